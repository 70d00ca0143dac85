/**
 * Idle is the JVM that tests read over JMX (jmxtest.StartIdle): besides
 * main it keeps two idle threads and 2 MiB of heap, prints "ready" and
 * runs until its standard input closes. It runs as a single source file.
 */
public final class Idle {
    private Idle() {
    }

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < 2; i++) {
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
        byte[][] keep = new byte[32][];
        for (int i = 0; i < keep.length; i++) {
            keep[i] = new byte[64 * 1024];
        }
        System.out.println("ready " + keep.length);
        System.out.flush();
        while (System.in.read() >= 0) {
            // Run until the test closes standard input.
        }
    }
}
