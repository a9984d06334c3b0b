//! Oracle transcripts: every host answer that is not a function of (module, arguments,
//! state), recorded in live mode and replayed in replay mode. Pure data; being written.
