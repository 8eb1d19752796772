"""Pages of the review app (UI only; logic in medswallow.review)."""
