import vendor.Stats;

/** Probe implements ProbeMBean. */
public final class Probe implements ProbeMBean {
    @Override
    public int getAnswer() {
        return 42;
    }

    @Override
    public int getHang() throws InterruptedException {
        Thread.sleep(600000);
        return 0;
    }

    @Override
    public int getBroken() {
        throw new IllegalStateException("broken on purpose");
    }

    @Override
    public String getName() {
        return "probe";
    }

    @Override
    public Stats getStats() {
        return new Stats();
    }
}
