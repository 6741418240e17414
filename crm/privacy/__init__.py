"""Where personal data lives and how it is protected: the registry, encryption, blind indexes."""
