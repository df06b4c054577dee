//! refresh-svc complete (issue 4): incremental apply, rebuild, reconcile, listener, leadership.
