//! Borrowed lazy reader for OFFERS events (in progress).
