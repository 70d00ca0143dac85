package vendor;

import java.io.Serializable;

/**
 * Stats mimics a JSR-77 Stats object as WebSphere's PMI returns them: a
 * vendor class the bridge only knows through its extra class path, with
 * statistics found by name.
 */
public final class Stats implements Serializable {
    private static final long serialVersionUID = 1L;

    /** getStatistic returns the statistic called name, or null. */
    public Object getStatistic(String name) {
        if ("PoolSize".equals(name)) {
            return new RangeStatistic(7);
        }
        return null;
    }

    /** RangeStatistic is a statistic with a current value. */
    public static final class RangeStatistic implements Serializable {
        private static final long serialVersionUID = 1L;
        private final long current;

        RangeStatistic(long current) {
            this.current = current;
        }

        /** getCurrent returns the value now. */
        public long getCurrent() {
            return current;
        }

        /** getHighWaterMark returns the largest value seen. */
        public long getHighWaterMark() {
            return current + 3;
        }
    }
}
