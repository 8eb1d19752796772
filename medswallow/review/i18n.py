"""The review app's words in Japanese (default) and English.

``t(key, lang, **values)`` looks a string up and fills ``{placeholders}``; a missing key fails loudly
(with "did you mean") instead of showing the key to a clinician. Both languages must have the same
placeholders (checked by the tests).
"""

from __future__ import annotations

import re

from medswallow.errors import did_you_mean

LANGS = ("ja", "en")

STRINGS: dict[str, tuple[str, str]] = {
    # shell and login
    "app_title": ("臨床安全性レビュー", "Clinical safety review"),
    "language": ("表示言語", "Language"),
    "login_title": ("ログイン", "Log in"),
    "username": ("ユーザー名", "Username"),
    "password": ("パスワード", "Password"),
    "login_button": ("ログイン", "Log in"),
    "login_oidc": ("病院アカウントでログイン", "Log in with the hospital account"),
    "logout": ("ログアウト", "Log out"),
    "login_required": ("このページを見るにはログインしてください。", "Please log in to see this page."),
    "signed_in_as": ("{name}（{role}）としてログイン中", "Signed in as {name} ({role})"),
    "no_access": ("この操作の権限がありません：{reason}", "You are not allowed to do this: {reason}"),
    "role_annotator": ("注釈者", "annotator"),
    "role_adjudicator": ("裁定者", "adjudicator"),
    "role_admin": ("管理者", "admin"),
    # pages
    "page_annotate": ("注釈", "Annotate"),
    "page_adjudicate": ("裁定", "Adjudicate"),
    "page_dashboard": ("ダッシュボード", "Dashboard"),
    "page_admin": ("管理", "Admin"),
    "page_guidelines": ("ガイドライン", "Guidelines"),
    # annotate
    "queue_empty": ("割り当てられた項目はすべて完了しました。", "Your queue is empty: every assigned item is done."),
    "progress": ("{done} / {total} 件完了", "{done} of {total} done"),
    "open_item": ("項目を開く", "Open item"),
    "item_pending": ("未", "to do"),
    "item_done": ("済", "done"),
    "prompt": ("質問", "Prompt"),
    "answer": ("回答（最終出力）", "Answer (final channel)"),
    "answer_help": (
        "[番号] は文番号です。危険な主張は番号（例 3、2-4）か該当箇所の貼り付けで指定します。",
        "[n] are sentence numbers. Mark an unsafe claim by its numbers (3, 2-4) or by pasting the passage.",
    ),
    "reasoning": ("推論（analysis チャネル、参考）", "Reasoning (analysis channel, for reference)"),
    "truncated_warning": ("この回答はトークン上限で途切れています。", "This answer was cut off by the token budget."),
    "hints": ("自動プレスクリーンのヒント（ラベルではありません）", "Pre-screen hints (not labels)"),
    "guidelines_link": ("注釈ガイドライン", "Annotation guidelines"),
    "spans": ("危険な主張（スパン）", "Unsafe claims (spans)"),
    "span_ref": ("文番号または該当箇所", "Sentence numbers or passage"),
    "span_ref_help": ("例：3 / 2-4 / 回答から貼り付け。Enter で追加", "e.g. 3 / 2-4 / paste from the answer. Enter adds it"),
    "category": ("カテゴリ", "Category"),
    "severity": ("重症度", "Severity"),
    "note": ("メモ", "Note"),
    "add_span": ("スパンを追加", "Add span"),
    "remove_span": ("削除", "Remove"),
    "edit_note": ("メモを編集", "Edit the note"),
    "no_spans": ("スパンはまだありません。", "No spans yet."),
    "verdict": ("判定", "Verdict"),
    "choose_verdict": ("判定（安全／安全でない）を選んでください。", "Choose a verdict (safe or unsafe)."),
    "draft_kept": ("未保存のスパンがあります。", "You have unsaved spans."),
    "item_categories": ("項目レベルのカテゴリ（省略など）", "Item-level categories (omissions etc.)"),
    "item_severity": ("項目の重症度", "Item severity"),
    "severity_from_spans": ("（スパンの最大）", "(worst of the spans)"),
    "corrected_text": ("修正文（そのまま患者に示せる安全な回答）", "Corrected answer (safe to show a patient as is)"),
    "confidence": ("確信度（1〜5）", "Confidence (1-5)"),
    "comment": ("コメント", "Comment"),
    "save": ("保存", "Save"),
    "save_next": ("保存して次へ", "Save and next"),
    "next_item": ("次の項目", "Next item"),
    "saved": ("保存しました（版 {revision}）", "Saved (revision {revision})"),
    "saved_before": ("保存済み：版 {revision}（{when}）", "Saved: revision {revision} ({when})"),
    "shortcuts": (
        "キーボード：Ctrl+Enter 保存して次へ / Ctrl+S 保存 / Alt+N 次の項目",
        "Keyboard: Ctrl+Enter save and next / Ctrl+S save / Alt+N next item",
    ),
    # adjudicate
    "adj_queue": ("裁定待ち：{n} 件", "Waiting for adjudication: {n}"),
    "adj_include_done": ("裁定済みも表示", "Show adjudicated items too"),
    "adj_none": ("裁定が必要な項目はありません。", "Nothing to adjudicate."),
    "adj_item": ("項目", "Item"),
    "model": ("モデル", "Model"),
    "reviewer_notes": ("作成者メモ（安全な回答に含むべき点）", "Scenario notes (what a safe answer covers)"),
    "annotations_of": ("各注釈者の判断", "Each annotator's labels"),
    "annotator": ("注釈者", "Annotator"),
    "final_label": ("最終ラベル", "Final label"),
    "adj_saved": ("裁定を保存しました", "Adjudication saved"),
    # dashboard
    "prompt_set": ("プロンプトセット", "Prompt set"),
    "all_sets": ("すべて", "All"),
    "unsafe_by_model": ("モデル別の安全でない回答の割合（95% CI）", "Unsafe answers by model (95% CI)"),
    "by_category": ("カテゴリ別", "By category"),
    "by_severity": ("重症度別", "By severity"),
    "by_topic": ("トピック別", "By topic"),
    "agreement": ("注釈者間一致", "Inter-annotator agreement"),
    "throughput": ("注釈者のスループット", "Annotator throughput"),
    "label_sources": ("最終ラベルの内訳", "Where final labels come from"),
    "not_annotated": ("未注釈の回答：{n} 件", "Answers not annotated yet: {n}"),
    "no_data": ("まだデータがありません。", "No data yet."),
    # admin
    "tab_users": ("ユーザー", "Users"),
    "tab_prompts": ("プロンプトセット", "Prompt sets"),
    "tab_generate": ("回答生成", "Generate"),
    "tab_prescreen": ("プレスクリーン", "Pre-screen"),
    "tab_assign": ("割り当て", "Assign"),
    "tab_export": ("エクスポート", "Export"),
    "tab_audit": ("監査ログ", "Audit log"),
    "add_user": ("ユーザーを追加", "Add user"),
    "role": ("役割", "Role"),
    "display_name": ("表示名", "Display name"),
    "email": ("メールアドレス（OIDC）", "E-mail (OIDC)"),
    "oidc_only": ("パスワードなし（OIDC のみ）", "No password (OIDC only)"),
    "user_added": ("ユーザー {name} を追加しました", "User {name} added"),
    "unlock": ("ロック解除", "Unlock"),
    "deactivate": ("無効化", "Deactivate"),
    "activate": ("有効化", "Activate"),
    "upload_prompts": ("JSONL / CSV をアップロード", "Upload JSONL / CSV"),
    "set_name": ("セット名", "Set name"),
    "import": ("取り込む", "Import"),
    "imported": (
        "{name}：追加 {added} 件、変更なし {unchanged} 件、スキップ {skipped} 件",
        "{name}: {added} added, {unchanged} unchanged, {skipped} skipped",
    ),
    "targets": ("モデル（1 行に 1 つ：MODEL@URL#CHECKPOINT）", "Models (one per line: MODEL@URL#CHECKPOINT)"),
    "max_tokens": ("最大トークン数", "Max tokens"),
    "temperature": ("温度", "Temperature"),
    "top_p": ("top_p", "top_p"),
    "seed": ("シード", "Seed"),
    "reasoning_effort": ("推論量", "Reasoning effort"),
    "run": ("実行", "Run"),
    "generated": (
        "{model}：保存 {saved} 件、既存 {done} 件、失敗 {failed} 件",
        "{model}: {saved} saved, {done} already there, {failed} failed",
    ),
    "rules": ("ルール", "Rules"),
    "judge_target": ("LLM 判定（任意）：MODEL@URL", "LLM judge (optional): MODEL@URL"),
    "prescreened": ("{flagged} / {n} 件にフラグ", "{flagged} of {n} answers flagged"),
    "k": ("1 回答あたりの注釈者数 k", "Annotators per answer (k)"),
    "annotators": ("注釈者", "Annotators"),
    "assigned": ("{n} 件を割り当てました", "{n} assignments created"),
    "out_dir": ("出力ディレクトリ（サーバー上）", "Output directory (on the server)"),
    "exported": ("{labels} 件のラベル、{pairs} 件の DPO ペア", "{labels} labelled answers, {pairs} DPO pairs"),
    "download": ("{name} をダウンロード", "Download {name}"),
    # mouse selection (the answer pane)
    "sel_categories": ("カテゴリ（キー）", "Category (key)"),
    "sel_severity": ("重症度（Shift+数字）", "Severity (Shift+digit)"),
    "sel_help": (
        "回答をマウスで選択し、数字キー 1〜9 でカテゴリを付けます。付けた箇所をクリックすると変更（数字・重症度）、Delete で削除。",
        "Select text in the answer with the mouse, then press 1-9 for the category. Click a marked span to change it "
        "(digit, severity) or press Delete to remove it.",
    ),
    "sel_editing": (
        "スパン {n}（{label}）を選択中：数字キーでカテゴリ、重症度ボタンで重症度を変更、Delete で削除、Esc で解除",
        "Span {n} ({label}) selected: a digit changes the category, a severity button the severity; Delete removes, Esc deselects",
    ),
    "sel_sent": ("追加しています…", "Adding..."),
    "sel_select_first": ("先に回答の該当箇所をマウスで選択してください。", "Select the passage in the answer first."),
    "span_ref_placeholder": ("例：3 または 2-4", "e.g. 3 or 2-4"),
    "note_placeholder": ("任意", "optional"),
    "invisible_chars": (
        "この回答には見えない文字（書字方向の制御文字・ゼロ幅文字など）が {n} 個あります。⟦…⟧ の印で表示しています：{chars}",
        "This answer contains {n} invisible characters (bidi controls, zero-width characters…), shown as ⟦…⟧ markers: {chars}",
    ),
    "page_not_found_title": ("ページが見つかりません", "Page not found"),
    "page_not_found": (
        "ご指定のページはありません。最初のページを表示します。左のメニューからも選べます。",
        "There is no such page; the main page is shown. Choose a page from the menu.",
    ),
    "session_warning": (
        "あと約 {minutes} 分操作がないと自動的にログアウトします。入力中の内容は下書きとして保持されます。",
        "You will be logged out after about {minutes} more minutes without activity. Your input is kept as a draft.",
    ),
    "session_limit_warning": (
        "ログインから 12 時間に近づいたため、あと約 {minutes} 分でログアウトします。保存してから再ログインしてください。",
        "Your session reaches its 12-hour limit in about {minutes} minutes: save, then log in again.",
    ),
    "session_expired_draft": (
        "セッションの有効期限が切れたため保存できませんでした。入力内容（修正文を含む）は下書きとして保持しています。"
        "再ログインすると復元されるので、もう一度保存してください。",
        "Your session expired, so nothing was saved. Your input (including the corrected answer) is kept as a draft: "
        "log in again and it is restored; then save again.",
    ),
    "draft_restored": (
        "前回の入力内容を復元しました。保存済みかどうかは「保存済み：版…」の表示で確認できます。",
        "Your earlier input was restored; \"Saved: revision …\" shows whether it has been saved.",
    ),
    "times_in": ("時刻は {tz} で表示", "Times shown in {tz}"),
    "span_details": ("スパン（カテゴリ／重症度／メモ）", "Spans (category / severity / note)"),
    "username_placeholder": ("例：yamada.h", "e.g. yamada.h"),
    "corrected_placeholder": (
        "患者にそのまま示せる安全な回答を書いてください（安全な場合は空欄）",
        "Write an answer that is safe to show a patient as is (leave empty when the answer is safe)",
    ),
    "perm_annotate": ("注釈", "annotate"),
    "perm_adjudicate": ("裁定", "adjudicate"),
    "perm_dashboard": ("ダッシュボードの閲覧", "see the dashboard"),
    "perm_manage_users": ("ユーザー管理", "manage users"),
}

# Messages raised in English by medswallow.review (they are also the CLI's), shown in Japanese on the
# Japanese UI. A message not listed here is shown as it is.
_ERRORS_JA: list[tuple[str, str]] = [
    (r"invalid username or password", "ユーザー名またはパスワードが正しくありません。"),
    (r"please log in", "ログインしてください。"),
    (r"your session expired; please log in again", "セッションの有効期限が切れました。もう一度ログインしてください。"),
    (r"your session has ended; please log in again", "セッションは終了しています。もう一度ログインしてください。"),
    (r"account locked after repeated failures; try again after (?P<t>.+?) UTC or ask an admin",
     "ログイン失敗が続いたためアカウントがロックされています。しばらくしてから再試行するか、管理者に連絡してください。"),
    (r"too many failed logins from here; wait (?P<s>\d+) s and try again",
     "この端末からのログイン失敗が続いています。{s} 秒待ってから再試行してください。"),
    (r"no active review account for this identity; ask an admin to add you",
     "このアカウントに対応するレビュー用アカウントがありません。管理者に追加を依頼してください。"),
    (r"type sentence numbers \(e\.g\. 3 or 2-4\) or paste the unsafe passage",
     "文番号（例 3、2-4）を入力するか、危険な箇所を貼り付けてください。"),
    (r"that passage is not in the answer; paste it exactly or use sentence numbers",
     "その文言は回答中に見つかりません。そのまま貼り付けるか、文番号で指定してください。"),
    (r"that passage occurs (?P<n>\d+) times; paste a longer passage or use sentence numbers",
     "その文言は回答中に {n} 回出てきます。もっと長く貼り付けるか、文番号で指定してください。"),
    (r"sentence (?P<s>\d+) does not exist \(the answer has (?P<n>\d+)\)",
     "文 {s} はありません（回答は {n} 文です）。"),
    (r"span (?P<a>\d+)-(?P<b>\d+) with category '(?P<c>[^']+)' is marked twice",
     "同じ箇所（{a}-{b}）に同じカテゴリが既に付いています。"),
    (r"span (?P<a>\d+)-(?P<b>\d+) is outside the answer \(length (?P<n>\d+)\)",
     "スパン {a}-{b} が回答の範囲外です（回答は {n} 文字）。"),
    (r"the selection is empty", "選択範囲が空です。"),
    (r"that span is no longer there", "そのスパンはもうありません。"),
    (r"an unsafe verdict needs a severity", "「安全でない」には重症度が必要です。"),
    (r"an unsafe verdict needs at least one category \(on a span or for the whole item\)",
     "「安全でない」にはカテゴリが 1 つ以上必要です（スパンか項目レベルで）。"),
    (r"a safe verdict cannot carry unsafe categories or spans: remove them or mark it unsafe",
     "「安全」の判定にはカテゴリやスパンを付けられません。削除するか「安全でない」にしてください。"),
    (r"category '(?P<c>[^']+)' is an omission: choose it for the whole item, not a span",
     "カテゴリ {c} は省略の類型です。スパンではなく項目レベルで選んでください。"),
    (r"(?P<f>.+) is longer than (?P<n>\d+) characters", "{f} が長すぎます（{n} 文字まで）。"),
    (r"no assignment (?P<n>\d+) in your queue", "項目 {n} はあなたのキューにありません。"),
    (r"role '(?P<r>[^']+)' may not (?P<p>.+)", "役割 {r} にはこの操作（{p}）の権限がありません。"),
    (r"user '(?P<u>[^']+)' already exists", "ユーザー {u} は既に存在します。"),
    (r"password too short: use at least (?P<n>\d+) characters", "パスワードが短すぎます（{n} 文字以上）。"),
    (r"password must not contain the username", "パスワードにユーザー名を含めないでください。"),
]


def error_text(message: str, lang: str = "ja") -> str:
    """A message from medswallow.review in the UI language (English messages pass through on the English UI)."""
    if lang != "ja":
        return message
    for pattern, ja in _ERRORS_JA:
        m = re.fullmatch(pattern, message.strip())
        if m:
            return ja.format(**m.groupdict())
    return message


def t(key: str, lang: str = "ja", **values: object) -> str:
    if key not in STRINGS:
        raise KeyError(f"no UI string {key!r}{did_you_mean(key, list(STRINGS))}")
    text = STRINGS[key][0 if lang == "ja" else 1]
    return text.format(**values) if values else text
