import vendor.Stats;

/** ProbeMBean is the test MBean's interface. */
public interface ProbeMBean {
    /** getAnswer returns 42. */
    int getAnswer();

    /** getHang never returns in time: it stands for a hung JVM. */
    int getHang() throws InterruptedException;

    /** getBroken always fails. */
    int getBroken();

    /** getName is not a number. */
    String getName();

    /** getStats is a vendor object, like WebSphere's PMI statistics. */
    Stats getStats();
}
