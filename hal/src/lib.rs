//! Hardware abstraction traits and the protocol-neutral engine (work in progress).
