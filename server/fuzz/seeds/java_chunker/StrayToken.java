package org.textkit.broken;

/**
 * Counter with a stray token between two methods.
 */
public class StrayToken {
    private int count;
    public void increment() {
        count++;
    }

    /** The current count. */
    public int count() {
        return count;
    }

    %% // SYNTAX ERROR ON PURPOSE

    /** Resets the counter. */
    public void reset() {
        count = 0;
    }

    /** Adds one delta. */
    public void add(int delta) {
        count += delta;
    }

    /** Adds several deltas. */
    public void add(int... deltas) {
        for (int d : deltas) {
            count += d;
        }
    }
}
