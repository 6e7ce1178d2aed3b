//! fuzz (in progress)
