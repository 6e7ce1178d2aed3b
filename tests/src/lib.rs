//! Cross-crate tests of tritium live in `tests/`: the deterministic
//! simulation (`tests/dst.rs`) runs `tritium-core`'s scheduler session
//! against `tritium-sim`'s master state machine in one thread, in virtual
//! time, with injected faults. This library is empty; it exists so the
//! package has a target besides its tests.
