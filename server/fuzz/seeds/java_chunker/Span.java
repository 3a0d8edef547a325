package org.textkit;

/**
 * A half-open character range.
 *
 * @param start inclusive start offset
 * @param end exclusive end offset
 */
public record Span(int start, int end) implements Comparable<Span> {
    /** The empty span at offset zero. */
    public static final Span EMPTY = new Span(0, 0);
    public Span(int start) {
        this(start, start);
    }

    /** Length of the span. */
    public int length() {
        return end - start;
    }

    /** Whether this span contains an offset. */
    public boolean contains(int offset) {
        return offset >= start && offset < end;
    }

    /** Whether this span fully contains another span. */
    public boolean contains(Span other) {
        return other.start >= start && other.end <= end;
    }

    /** Orders by start, then by end. */
    @Override
    public int compareTo(Span other) {
        int byStart = Integer.compare(start, other.start);
        return byStart != 0 ? byStart : Integer.compare(end, other.end);
    }

    /** Extracts the covered text. */
    public String slice(CharSequence text) {
        return text.subSequence(start, end).toString();
    }
}
