"""The interface in the reader's language: gettext catalogues (Babel), locale choice, locale-aware formatting."""
