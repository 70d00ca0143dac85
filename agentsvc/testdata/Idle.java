/**
 * Idle is the JVM that the agent's `once` test reads over JMX: it prints
 * "ready" once its platform MBeans are up and runs until its standard
 * input closes. Run it as a single source file (java Idle.java).
 */
public final class Idle {
    private Idle() {
    }

    public static void main(String[] args) throws Exception {
        java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        System.out.println("ready");
        System.out.flush();
        while (System.in.read() >= 0) {
            // Wait for the test to close standard input.
        }
    }
}
