/**
 * Idle is the JVM the end-to-end JMX test watches: it keeps a few threads
 * and some heap, prints "ready" and runs until its standard input closes.
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
