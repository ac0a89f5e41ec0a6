//! Trading end to end: the daemon's actors against the simulator over real sockets, on the
//! test database of the run (SQLite or PostgreSQL).

mod commands;
mod crossing;
pub mod harness;
mod pauses;
mod processes;
mod recovery;
mod shares;
mod targets;
mod timeouts;
mod turns;
