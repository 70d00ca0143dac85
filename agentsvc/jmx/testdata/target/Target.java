import java.lang.management.ManagementFactory;
import javax.management.ObjectName;

/**
 * Target is the JVM that the JMX tests watch. It registers a test MBean and
 * MXBeans shaped like Open Liberty's monitor-1.0 statistics (see Liberty),
 * keeps a few threads and some heap busy, prints "ready" and runs until its
 * standard input closes.
 */
public final class Target {
    private Target() {
    }

    public static void main(String[] args) throws Exception {
        ManagementFactory.getPlatformMBeanServer().registerMBean(new Probe(), new ObjectName("esmon.test:type=Probe,name=\"probe one\""));
        Liberty.register(ManagementFactory.getPlatformMBeanServer());
        for (int i = 0; i < 3; i++) {
            Thread t = new Thread(new Runnable() {
                @Override
                public void run() {
                    try {
                        Thread.sleep(Long.MAX_VALUE);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "idle-" + i);
            t.setDaemon(true);
            t.start();
        }
        byte[][] keep = new byte[64][];
        for (int i = 0; i < keep.length; i++) {
            keep[i] = new byte[64 * 1024];
        }
        System.gc();
        System.out.println("ready " + keep.length);
        System.out.flush();
        while (System.in.read() >= 0) {
            // Run until the test closes standard input.
        }
    }
}
