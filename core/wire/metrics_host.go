package wire

// Metric names of the agent's process, service, temperature and check
// collectors, and of the agent's own spool. Conventions as in metrics.go.
const (
	ProcessCount       = "process_count"
	ProcessCPUPercent  = "process_cpu_usage_percent"     // label process (a program's name: its processes summed); percent of one core; the top 10
	ProcessMemoryBytes = "process_resident_memory_bytes" // label process (as above); the top 10

	ServiceState   = "service_state"   // label service; Windows' numbering: 0 not installed, 1 stopped, 4 running
	ServiceRunning = "service_running" // label service; 1 or 0

	TemperatureCelsius = "temperature_celsius" // label sensor

	CheckSuccess         = "check_success"              // label check; 1 or 0
	CheckDurationSeconds = "check_duration_seconds"     // label check
	CheckHTTPStatusCode  = "check_http_status_code"     // label check
	CheckCertExpiryDays  = "check_tls_cert_expiry_days" // label check; days until the server's certificate expires

	// AgentSpoolDroppedTotal counts snapshots the agent's spool dropped,
	// oldest first, because it was full while the core was away.
	AgentSpoolDroppedTotal = "esmon_agent_spool_dropped_snapshots_total"
	AgentSpoolPending      = "esmon_agent_spool_pending_snapshots"
	AgentSpoolBytes        = "esmon_agent_spool_bytes"
	// AgentSnapshotsTotal counts the snapshots the agent process took,
	// one per collection: consecutive values in the store show that none
	// was lost or stored twice.
	AgentSnapshotsTotal = "esmon_agent_snapshots_total"
	// AgentConfigVersion is the version of the config the core pushed
	// that the agent runs; 0 for its local settings alone.
	AgentConfigVersion = "esmon_agent_config_version"
)

// Label names used with the metrics above.
const (
	LabelProcess = "process"
	LabelService = "service"
	LabelSensor  = "sensor"
	LabelCheck   = "check"
)
