"""The audit report: results JSON → report model (formatted values) → figures → HTML and PDF."""
