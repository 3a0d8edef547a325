package org.textkit;

import java.util.Locale;

/**
 * Heading case styles. Every constant overrides {@link #apply(String)}.
 */
public enum CaseStyle {
    /** Upper case. */
    UPPER("U") {
        @Override
        public String apply(String s) {
            return s.toUpperCase(Locale.ROOT);
        }
    },
    /** Lower case. */
    LOWER("L") {
        @Override
        public String apply(String s) {
            return s.toLowerCase(Locale.ROOT);
        }
    },
    /** Title case. */
    TITLE("T") {
        @Override
        public String apply(String s) {
            if (s.isEmpty()) {
                return s;
            }
            return Character.toUpperCase(s.charAt(0)) + s.substring(1).toLowerCase(Locale.ROOT);
        }

        @Override
        public boolean preservesLength() {
            return true;
        }
    };

    private final String code;
    CaseStyle(String code) {
        this.code = code;
    }

    /** Applies this style to a string. */
    public abstract String apply(String s);

    /** Whether the output always has the same length as the input. */
    public boolean preservesLength() {
        return false;
    }

    /** The one-letter code of this style. */
    public String code() {
        return code;
    }

    /** Looks up a style by its one-letter code. */
    public static CaseStyle fromCode(String code) {
        for (CaseStyle style : values()) {
            if (style.code.equals(code)) {
                return style;
            }
        }
        throw new IllegalArgumentException("unknown code: " + code);
    }
}
