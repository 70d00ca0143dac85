package wire

// Metric names the agent sends and the core's default rules and pages read.
// They follow Prometheus conventions: snake_case, base units, _bytes,
// _seconds, _total for counters, _percent for a share out of 100.
const (
	CPUUsagePercent     = "cpu_usage_percent"      // all cores together
	CPUCoreUsagePercent = "cpu_core_usage_percent" // label core
	Load1               = "load_average_1m"
	Load5               = "load_average_5m"
	Load15              = "load_average_15m"

	MemoryTotalBytes     = "memory_total_bytes"
	MemoryUsedBytes      = "memory_used_bytes"
	MemoryAvailableBytes = "memory_available_bytes"
	MemoryUsedPercent    = "memory_used_percent"
	SwapTotalBytes       = "swap_total_bytes"
	SwapUsedBytes        = "swap_used_bytes"
	SwapUsedPercent      = "swap_used_percent"

	DiskTotalBytes      = "disk_total_bytes"           // label mount
	DiskUsedBytes       = "disk_used_bytes"            // label mount
	DiskFreeBytes       = "disk_free_bytes"            // label mount
	DiskUsedPercent     = "disk_used_percent"          // label mount
	DiskReadBytesTotal  = "disk_read_bytes_total"      // label device
	DiskWriteBytesTotal = "disk_written_bytes_total"   // label device
	DiskReadsTotal      = "disk_reads_total"           // label device
	DiskWritesTotal     = "disk_writes_total"          // label device
	DiskIOTimeSecsTotal = "disk_io_time_seconds_total" // label device

	NetReceivedBytesTotal = "network_received_bytes_total" // label interface
	NetSentBytesTotal     = "network_sent_bytes_total"     // label interface
	NetReceivedPktsTotal  = "network_received_packets_total"
	NetSentPktsTotal      = "network_sent_packets_total"
	NetReceiveErrsTotal   = "network_receive_errors_total"
	NetTransmitErrsTotal  = "network_transmit_errors_total"

	UptimeSeconds = "uptime_seconds"

	JVMHeapUsedPercent = "jvm_heap_used_percent" // label jvm
)

// Label names used with the metrics above.
const (
	LabelCore      = "core"
	LabelMount     = "mount"
	LabelDevice    = "device"
	LabelInterface = "interface"
)
