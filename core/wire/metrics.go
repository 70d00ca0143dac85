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

	// JVM figures from the JMX bridge; every one has label jvm.
	JVMUp                    = "jvm_up" // 1 when the bridge could read the JVM, else 0
	JVMHeapUsedBytes         = "jvm_memory_heap_used_bytes"
	JVMHeapCommittedBytes    = "jvm_memory_heap_committed_bytes"
	JVMHeapMaxBytes          = "jvm_memory_heap_max_bytes"
	JVMHeapUsedPercent       = "jvm_heap_used_percent" // used out of max
	JVMNonHeapUsedBytes      = "jvm_memory_nonheap_used_bytes"
	JVMNonHeapCommittedBytes = "jvm_memory_nonheap_committed_bytes"
	JVMNonHeapMaxBytes       = "jvm_memory_nonheap_max_bytes" // absent when unbounded
	JVMGCCollectionsTotal    = "jvm_gc_collections_total"     // label collector
	JVMGCTimeSecondsTotal    = "jvm_gc_time_seconds_total"    // label collector
	JVMThreads               = "jvm_threads"
	JVMThreadsDaemon         = "jvm_threads_daemon"
	JVMThreadsPeak           = "jvm_threads_peak"
	JVMClassesLoaded         = "jvm_classes_loaded"
	JVMProcessCPUPercent     = "jvm_process_cpu_percent" // of all the machine's cores
)

// Label names used with the metrics above.
const (
	LabelCore      = "core"
	LabelMount     = "mount"
	LabelDevice    = "device"
	LabelInterface = "interface"
	LabelJVM       = "jvm"       // the name of a JVM in the agent's jmx: config
	LabelCollector = "collector" // a JVM's garbage collector
)
