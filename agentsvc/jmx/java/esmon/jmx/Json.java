package esmon.jmx;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Json is the bridge's JSON codec: small and strict, so the bridge needs no
 * library on a server's class path. It reads objects as LinkedHashMap, arrays
 * as ArrayList, numbers as Double, and refuses anything RFC 8259 does not
 * allow, plus duplicate keys and nesting deeper than MAX_DEPTH.
 */
final class Json {
    /** MAX_DEPTH bounds nesting, so a hostile line cannot overflow the stack. */
    static final int MAX_DEPTH = 32;

    /** SyntaxError is a line that is not the JSON the bridge accepts. */
    static final class SyntaxError extends Exception {
        private static final long serialVersionUID = 1L;

        SyntaxError(String msg, int pos) {
            super(msg + " at offset " + pos);
        }
    }

    private final String s;
    private int pos;

    private Json(String s) {
        this.s = s;
    }

    /** parse reads one JSON value that must fill the whole of s. */
    static Object parse(String s) throws SyntaxError {
        Json p = new Json(s);
        p.space();
        Object v = p.value(0);
        p.space();
        if (p.pos != s.length()) {
            throw new SyntaxError("unexpected data after the value", p.pos);
        }
        return v;
    }

    private Object value(int depth) throws SyntaxError {
        if (depth > MAX_DEPTH) {
            throw new SyntaxError("nested deeper than " + MAX_DEPTH, pos);
        }
        if (pos >= s.length()) {
            throw new SyntaxError("unexpected end", pos);
        }
        char c = s.charAt(pos);
        switch (c) {
            case '{':
                return object(depth);
            case '[':
                return array(depth);
            case '"':
                return string();
            case 't':
                literal("true");
                return Boolean.TRUE;
            case 'f':
                literal("false");
                return Boolean.FALSE;
            case 'n':
                literal("null");
                return null;
            default:
                if (c == '-' || (c >= '0' && c <= '9')) {
                    return number();
                }
                throw new SyntaxError("unexpected character '" + c + "'", pos);
        }
    }

    private Map<String, Object> object(int depth) throws SyntaxError {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        pos++;
        space();
        if (peek() == '}') {
            pos++;
            return m;
        }
        while (true) {
            space();
            if (peek() != '"') {
                throw new SyntaxError("want a string key", pos);
            }
            int at = pos;
            String k = string();
            if (m.containsKey(k)) {
                throw new SyntaxError("duplicate key \"" + k + "\"", at);
            }
            space();
            expect(':');
            space();
            m.put(k, value(depth + 1));
            space();
            char c = peek();
            pos++;
            if (c == '}') {
                return m;
            }
            if (c != ',') {
                throw new SyntaxError("want ',' or '}'", pos - 1);
            }
        }
    }

    private List<Object> array(int depth) throws SyntaxError {
        List<Object> a = new ArrayList<Object>();
        pos++;
        space();
        if (peek() == ']') {
            pos++;
            return a;
        }
        while (true) {
            space();
            a.add(value(depth + 1));
            space();
            char c = peek();
            pos++;
            if (c == ']') {
                return a;
            }
            if (c != ',') {
                throw new SyntaxError("want ',' or ']'", pos - 1);
            }
        }
    }

    private String string() throws SyntaxError {
        pos++; // the opening quote
        StringBuilder b = new StringBuilder();
        while (true) {
            if (pos >= s.length()) {
                throw new SyntaxError("unterminated string", pos);
            }
            char c = s.charAt(pos++);
            if (c == '"') {
                return b.toString();
            }
            if (c < 0x20) {
                throw new SyntaxError("control character in string", pos - 1);
            }
            if (c != '\\') {
                b.append(c);
                continue;
            }
            if (pos >= s.length()) {
                throw new SyntaxError("unterminated escape", pos);
            }
            char e = s.charAt(pos++);
            switch (e) {
                case '"': b.append('"'); break;
                case '\\': b.append('\\'); break;
                case '/': b.append('/'); break;
                case 'b': b.append('\b'); break;
                case 'f': b.append('\f'); break;
                case 'n': b.append('\n'); break;
                case 'r': b.append('\r'); break;
                case 't': b.append('\t'); break;
                case 'u':
                    if (pos + 4 > s.length()) {
                        throw new SyntaxError("short \\u escape", pos);
                    }
                    int cp = 0;
                    for (int i = 0; i < 4; i++) {
                        int d = Character.digit(s.charAt(pos + i), 16);
                        if (d < 0) {
                            throw new SyntaxError("bad \\u escape", pos);
                        }
                        cp = cp * 16 + d;
                    }
                    pos += 4;
                    b.append((char) cp);
                    break;
                default:
                    throw new SyntaxError("bad escape \\" + e, pos - 1);
            }
        }
    }

    private Double number() throws SyntaxError {
        int start = pos;
        if (peek() == '-') {
            pos++;
        }
        if (peek() == '0') {
            pos++;
        } else if (digits() == 0) {
            throw new SyntaxError("bad number", start);
        }
        if (peek() == '.') {
            pos++;
            if (digits() == 0) {
                throw new SyntaxError("bad fraction", start);
            }
        }
        if (peek() == 'e' || peek() == 'E') {
            pos++;
            if (peek() == '+' || peek() == '-') {
                pos++;
            }
            if (digits() == 0) {
                throw new SyntaxError("bad exponent", start);
            }
        }
        double d = Double.parseDouble(s.substring(start, pos));
        if (Double.isInfinite(d)) {
            throw new SyntaxError("number out of range", start);
        }
        return d;
    }

    private int digits() {
        int n = 0;
        while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') {
            pos++;
            n++;
        }
        return n;
    }

    private void literal(String word) throws SyntaxError {
        if (!s.startsWith(word, pos)) {
            throw new SyntaxError("unexpected word", pos);
        }
        pos += word.length();
    }

    private void expect(char c) throws SyntaxError {
        if (peek() != c) {
            throw new SyntaxError("want '" + c + "'", pos);
        }
        pos++;
    }

    /** peek returns the next character, or 0 at the end. */
    private char peek() {
        return pos < s.length() ? s.charAt(pos) : 0;
    }

    private void space() {
        while (pos < s.length()) {
            char c = s.charAt(pos);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                return;
            }
            pos++;
        }
    }

    /**
     * write appends v as JSON. It takes what parse returns, and Long and
     * Integer; a non-finite double, which JSON cannot say, is written as null.
     */
    static void write(StringBuilder b, Object v) {
        if (v == null) {
            b.append("null");
        } else if (v instanceof String) {
            quote(b, (String) v);
        } else if (v instanceof Boolean) {
            b.append(((Boolean) v).booleanValue() ? "true" : "false");
        } else if (v instanceof Long || v instanceof Integer) {
            b.append(v.toString());
        } else if (v instanceof Number) {
            double d = ((Number) v).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                b.append("null");
            } else if (d == Math.rint(d) && Math.abs(d) < 1e15) {
                b.append((long) d);
            } else {
                b.append(Double.toString(d));
            }
        } else if (v instanceof Map) {
            b.append('{');
            Iterator<?> it = ((Map<?, ?>) v).entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<?, ?> e = (Map.Entry<?, ?>) it.next();
                quote(b, String.valueOf(e.getKey()));
                b.append(':');
                write(b, e.getValue());
                if (it.hasNext()) {
                    b.append(',');
                }
            }
            b.append('}');
        } else if (v instanceof List) {
            b.append('[');
            List<?> l = (List<?>) v;
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) {
                    b.append(',');
                }
                write(b, l.get(i));
            }
            b.append(']');
        } else {
            quote(b, v.toString());
        }
    }

    private static void quote(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        b.append('"');
    }
}
