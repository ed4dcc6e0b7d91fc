//! Sans-IO TR-069 (CWMP) CPE stack (work in progress).
