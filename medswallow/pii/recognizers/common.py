"""Language-independent identifiers: e-mail addresses and personal URLs."""

from __future__ import annotations

from typing import ClassVar

from medswallow.pii.recognizers.base import MedPatternRecognizer

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"


class EmailAddressRecognizer(MedPatternRecognizer):
    """E-mail addresses, also written with a full-width ＠ or full-width letters.

    Spec: RFC 5322 "dot-atom" local part, ``@``, domain labels, a 2-24 letter top-level label. Unlike
    Presidio's EmailRecognizer there is no tldextract lookup (it downloads the public suffix list), and the
    match may touch kana/kanji on either side (``メールはtaro@example.jpまで``).
    """

    ENTITY = "EMAIL_ADDRESS"
    TRIGGER = r"@"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        (
            "email",
            rf"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@{_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,24}}(?![A-Za-z0-9\-])",
            0.9,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["メール", "mail", "e-mail", "email", "連絡"]


PUBLIC_DOMAINS = (
    ".go.jp", ".lg.jp", ".gov", ".gov.uk", ".mil", ".int", ".ac.jp", ".or.jp", ".edu", "doi.org", "wikipedia.org",
    "who.int", "nih.gov", "cochrane.org", "clinicaltrials.gov", "nejm.org", "thelancet.com", "bmj.com",
    "jamanetwork.com", "nature.com", "sciencedirect.com", "springer.com", "wiley.com", "jstage.jst.go.jp",
)
"""Reference sites: a link there points at a guideline or paper, not at a person."""

PERSONAL_HOSTS = (
    "twitter.com", "x.com", "facebook.com", "fb.com", "instagram.com", "tiktok.com", "youtube.com", "youtu.be",
    "linkedin.com", "line.me", "ameblo.jp", "note.com", "note.mu", "hatenablog.com", "hatenablog.jp",
    "hatena.ne.jp", "blogspot.com", "wordpress.com", "fc2.com", "livedoor.jp", "livedoor.blog", "mixi.jp",
    "github.com", "github.io", "threads.net", "mastodon.social", "bsky.app", "tumblr.com", "medium.com",
    "pixiv.net", "seesaa.net", "jugem.jp", "goo.ne.jp", "sites.google.com", "researchmap.jp",
)
"""Hosts whose pages belong to one person (social media, blogs, personal sites)."""

PERSONAL_PATH_MARKS = ("/~", "/@", "/users/", "/user/", "/u/", "/profile", "/people/", "/member/", "/members/", "/blog/")


def url_host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].lower()
    return host


PERSONAL_FIRST_LABELS = frozenset(h.split(".")[0] for h in PERSONAL_HOSTS) | {"gofundme", "ameblo", "hatena", "www.gofundme"}
"""First host labels of personal sites, so mirrors and example domains (facebook.example.com) count too."""


def is_personal_url(url: str) -> bool:
    """True for links to a person's page (social media, blogs, ~user paths); False for reference sites."""
    host = url_host(url)
    if any(host == d.lstrip(".") or host.endswith(d if d.startswith(".") else "." + d) for d in PUBLIC_DOMAINS):
        return False
    if any(host == h or host.endswith("." + h) for h in PERSONAL_HOSTS):
        return True
    labels = host.split(".")
    if labels[0] in PERSONAL_FIRST_LABELS or (labels[0] == "www" and len(labels) > 1 and labels[1] in PERSONAL_FIRST_LABELS):
        return True
    low = url.lower()
    return any(mark in low for mark in PERSONAL_PATH_MARKS)


class PersonalUrlRecognizer(MedPatternRecognizer):
    """URLs that identify a person: social media profiles, blogs, personal pages (``~user``, ``/@user``).

    Spec: ``http(s)://`` or ``www.`` links; trailing punctuation is trimmed. Accuracy: links to guidelines,
    journals, public agencies, hospitals and companies are kept (they say nothing about a patient); a
    personal page on an unknown host without a ``~user``-style path is missed.
    """

    ENTITY = "URL"
    PATTERNS: ClassVar[list[tuple[str, str, float]]] = [
        ("url", r"(?<![A-Za-z0-9@/])(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'*+,;=%]+(?<![.,;:!?'\]])", 0.85),
        (
            "bare_social",
            r"(?<![A-Za-z0-9@/.])(?:facebook|linkedin|instagram|twitter|x|tiktok|note|ameblo|researchmap|gofundme|threads)"
            r"\.[A-Za-z0-9\-.]+/[A-Za-z0-9\-._~/?=%@]+(?<![.,;:!?'])",
            0.85,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["sns", "ブログ", "blog", "twitter", "instagram", "facebook", "闘病記", "personal", "my site", "follow", "fundraiser"]
    CONTEXT_WINDOW = (40, 0)

    def rescore(self, match: str, score: float) -> float:
        if is_personal_url(match):
            return score
        host = url_host(match)
        # an unknown host is personal only with a context word (my blog: https://...); public sites never are
        if any(host.endswith(d.lstrip(".")) for d in PUBLIC_DOMAINS) or host.startswith("www."):
            return 0.0
        return 0.3


COMMON_RECOGNIZERS: tuple[type[MedPatternRecognizer], ...] = (EmailAddressRecognizer, PersonalUrlRecognizer)
