//! tritium-sim (in progress)
