"""cliffwatch: find the quality cliff of training AI on AI outputs before your users do."""

__version__ = "0.1.0"
