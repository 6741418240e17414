"""The GDPR blueprint: data-subject requests, export, erasure, consents, restriction, retention."""
