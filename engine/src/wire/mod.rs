//! The sans-IO wire codec (in progress).
