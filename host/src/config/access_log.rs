//! `access_log`: which access log the proxy writes, if any. The type is the
//! config's (it is parsed here); what a line holds and how it is written is
//! host/src/access_log.rs's.

super::choice::choice! {
    /// Which access log, if any (the config's `access_log`).
    #[derive(Default)]
    pub enum AccessLog {
        /// None (the default; benchmarks run like this).
        #[default]
        Off = "off",
        /// Combined log format plus route, pool, server, duration.
        Combined = "combined",
        /// One JSON object per line.
        Json = "json",
    }
}
