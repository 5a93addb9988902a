"""The domain of answering a questionnaire: no Flask, only sessions and definitions."""
