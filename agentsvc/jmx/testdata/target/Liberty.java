import javax.management.MBeanServer;
import javax.management.ObjectName;

/**
 * Liberty registers MXBeans with the object names, attribute names and
 * attribute types of Open Liberty's monitor-1.0 feature, holding fixed
 * values, so that the README's Liberty template can be run against a JVM
 * here. It is not Liberty: no thread pool, data source or session stands
 * behind the numbers, and Liberty's restConnector-2.0 is not used (the
 * bridge reaches this JVM over the JDK's RMI connector).
 *
 * Where the names come from (Open Liberty, github.com/OpenLiberty/open-liberty):
 * <ul>
 * <li>ThreadPoolMXBean: dev/com.ibm.ws.monitor/src/com/ibm/websphere/monitor/jmx/ThreadPoolMXBean.java,
 * "WebSphere:type=ThreadPoolStats,name=Default Executor"; PoolName (String),
 * ActiveThreads (int), PoolSize (int).</li>
 * <li>ConnectionPoolStatsMXBean:
 * dev/com.ibm.ws.connectionpool.monitor/src/com/ibm/websphere/connectionpool/monitor/ConnectionPoolStatsMXBean.java,
 * "WebSphere:type=ConnectionPoolStats,name=&lt;identifier of the connection
 * manager&gt;": the JNDI name (jdbc/maxdb) or, without one,
 * dataSource[id]/connectionManager (IBM's "ConnectionPool monitoring" page,
 * rwlp_mon_connectionpools); CreateCount, DestroyCount,
 * ConnectionHandleCount, ManagedConnectionCount, FreeConnectionCount (long),
 * WaitTime and InUseTime (double, average milliseconds). Its
 * WaitTimeDetails and InUseTimeDetails (StatisticsMeter composites) are left
 * out: the template does not read them.</li>
 * <li>SessionStatsMXBean:
 * dev/com.ibm.ws.session.monitor/src/com/ibm/websphere/session/monitor/SessionStatsMXBean.java,
 * "WebSphere:type=SessionStats,name=&lt;virtual host&gt;/&lt;context root&gt;"
 * (default_host/ibm/api in the Admin Center's tests); ActiveCount,
 * LiveCount, CreateCount, InvalidatedCount, InvalidatedCountbyTimeout
 * (long).</li>
 * </ul>
 * ServletStats and JvmStats are not registered: the template does not read
 * them.
 */
public final class Liberty {
    private Liberty() {
    }

    /** register adds the MXBeans to server. */
    public static void register(MBeanServer server) throws Exception {
        server.registerMBean(new ThreadPool("Default Executor", 3, 8),
            new ObjectName("WebSphere:type=ThreadPoolStats,name=Default Executor"));
        server.registerMBean(new ConnectionPool(12, 2, 4, 10, 6, 250.0, 1500.0),
            new ObjectName("WebSphere:type=ConnectionPoolStats,name=jdbc/maxdb"));
        server.registerMBean(new ConnectionPool(1, 0, 0, 1, 1, 0.0, 0.0),
            new ObjectName("WebSphere:type=ConnectionPoolStats,name=dataSource[default-0]/connectionManager"));
        server.registerMBean(new Sessions(2, 17, 40, 23, 20),
            new ObjectName("WebSphere:type=SessionStats,name=default_host/maximo"));
    }

    /** ThreadPoolMXBean is Liberty's com.ibm.websphere.monitor.jmx.ThreadPoolMXBean. */
    public interface ThreadPoolMXBean {
        /** getPoolName returns the pool's name, "Default Executor". */
        String getPoolName();

        /** getActiveThreads returns the threads running a task. */
        int getActiveThreads();

        /** getPoolSize returns the threads in the pool, active or not. */
        int getPoolSize();
    }

    /** ConnectionPoolStatsMXBean is Liberty's interface of that name. */
    public interface ConnectionPoolStatsMXBean {
        /** getCreateCount returns the managed connections created. */
        long getCreateCount();

        /** getDestroyCount returns the managed connections destroyed. */
        long getDestroyCount();

        /** getConnectionHandleCount returns the connections in use. */
        long getConnectionHandleCount();

        /** getManagedConnectionCount returns the managed connections in the pools. */
        long getManagedConnectionCount();

        /** getFreeConnectionCount returns the managed connections in the free pool. */
        long getFreeConnectionCount();

        /** getWaitTime returns the average wait for a connection, in milliseconds. */
        double getWaitTime();

        /** getInUseTime returns the average time a connection is in use, in milliseconds. */
        double getInUseTime();
    }

    /** SessionStatsMXBean is Liberty's interface of that name. */
    public interface SessionStatsMXBean {
        /** getActiveCount returns the sessions a request is using now. */
        long getActiveCount();

        /** getLiveCount returns the sessions cached in memory. */
        long getLiveCount();

        /** getCreateCount returns the sessions created. */
        long getCreateCount();

        /** getInvalidatedCount returns the sessions invalidated. */
        long getInvalidatedCount();

        /** getInvalidatedCountbyTimeout returns the sessions invalidated by timeout. */
        long getInvalidatedCountbyTimeout();
    }

    /** ThreadPool holds fixed thread pool figures. */
    public static final class ThreadPool implements ThreadPoolMXBean {
        private final String name;
        private final int active;
        private final int size;

        ThreadPool(String name, int active, int size) {
            this.name = name;
            this.active = active;
            this.size = size;
        }

        @Override
        public String getPoolName() {
            return name;
        }

        @Override
        public int getActiveThreads() {
            return active;
        }

        @Override
        public int getPoolSize() {
            return size;
        }
    }

    /** ConnectionPool holds fixed connection pool figures. */
    public static final class ConnectionPool implements ConnectionPoolStatsMXBean {
        private final long created;
        private final long destroyed;
        private final long handles;
        private final long managed;
        private final long free;
        private final double waitMillis;
        private final double inUseMillis;

        ConnectionPool(long created, long destroyed, long handles, long managed, long free, double waitMillis, double inUseMillis) {
            this.created = created;
            this.destroyed = destroyed;
            this.handles = handles;
            this.managed = managed;
            this.free = free;
            this.waitMillis = waitMillis;
            this.inUseMillis = inUseMillis;
        }

        @Override
        public long getCreateCount() {
            return created;
        }

        @Override
        public long getDestroyCount() {
            return destroyed;
        }

        @Override
        public long getConnectionHandleCount() {
            return handles;
        }

        @Override
        public long getManagedConnectionCount() {
            return managed;
        }

        @Override
        public long getFreeConnectionCount() {
            return free;
        }

        @Override
        public double getWaitTime() {
            return waitMillis;
        }

        @Override
        public double getInUseTime() {
            return inUseMillis;
        }
    }

    /** Sessions holds fixed session figures. */
    public static final class Sessions implements SessionStatsMXBean {
        private final long active;
        private final long live;
        private final long created;
        private final long invalidated;
        private final long timedOut;

        Sessions(long active, long live, long created, long invalidated, long timedOut) {
            this.active = active;
            this.live = live;
            this.created = created;
            this.invalidated = invalidated;
            this.timedOut = timedOut;
        }

        @Override
        public long getActiveCount() {
            return active;
        }

        @Override
        public long getLiveCount() {
            return live;
        }

        @Override
        public long getCreateCount() {
            return created;
        }

        @Override
        public long getInvalidatedCount() {
            return invalidated;
        }

        @Override
        public long getInvalidatedCountbyTimeout() {
            return timedOut;
        }
    }
}
