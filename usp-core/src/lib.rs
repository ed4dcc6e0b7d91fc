//! Sans-IO TR-369 (USP) agent stack (work in progress).
