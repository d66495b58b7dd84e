//! `echo` 2.0.0: the `echo` plugin's source, built under another version.

#[path = "../../echo/src/lib.rs"]
mod echo;
