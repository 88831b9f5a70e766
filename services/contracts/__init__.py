"""Python modules generated from proto/ (regenerate with `make proto`)."""
