package esmon.jmx;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanServerConnection;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;
import javax.management.openmbean.CompositeData;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

/**
 * Bridge reads MBean attributes of one JVM for esmon-agent. The agent runs
 * it as a child process and talks JSON lines: one request per line on
 * standard input, one response per line on standard output, in order.
 * Standard error is the bridge's log; System.out is pointed at it too, so
 * that a vendor connector that prints cannot break the protocol.
 *
 * <p>At start the bridge writes {"hello":"esmon-jmx","protocol":1,...}.
 * Requests carry an "id" that the response repeats, and an "op":
 * <ul>
 * <li>connect: url, username, password, env (JMX connector environment);
 * stores the settings and drops any open connection. The connection is
 * made by the next query.</li>
 * <li>query: timeout_ms and queries, each an object_name pattern, labels
 * (label name to object name key) and attributes (attribute, key, metric,
 * scale). The answer is samples and errors; or error alone when nothing
 * could be read (no connection, timed out).</li>
 * <li>list: pattern and timeout_ms; the answer is mbeans with their
 * attributes and types, to help write queries.</li>
 * </ul>
 * A request that times out leaves its worker thread behind and drops the
 * connection, so a hung JVM costs one answer, not the bridge; one that times
 * out while connecting lets the connection go on being made.
 */
public final class Bridge {
    /** PROTOCOL is the version of the line protocol this bridge speaks. */
    static final int PROTOCOL = 1;

    /** MAX_ERROR bounds the length of one error text. */
    private static final int MAX_ERROR = 600;

    /** MAX_LIST bounds the MBeans one list answer names. */
    private static final int MAX_LIST = 2000;

    /** DEFAULT_TIMEOUT_MS applies when a request names no timeout. */
    private static final long DEFAULT_TIMEOUT_MS = 10000;

    private final PrintStream out;

    // The lock of this guards the fields below, because a worker that was
    // given up on may still finish a connect later. generation counts the
    // connections dropped: an abandoned worker's connection, made for an
    // older generation, is closed instead of kept.
    private String url;
    private Map<String, Object> env = new HashMap<String, Object>();
    private JMXConnector connector;
    private MBeanServerConnection conn;
    private long generation;
    /** connecting is true while the worker makes a connection. */
    private boolean connecting;

    /** worker runs requests; only the main thread uses this field. */
    private ExecutorService worker;

    private Bridge(PrintStream out) {
        this.out = out;
    }

    /** main serves requests from standard input until it closes. */
    public static void main(String[] args) throws IOException {
        PrintStream protocol = new PrintStream(new FileOutputStream(FileDescriptor.out), false, "UTF-8");
        System.setOut(System.err);
        Bridge b = new Bridge(protocol);
        b.serve(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)));
        // Worker threads stuck in a call to a hung JVM must not keep the
        // process alive once the agent has gone.
        System.exit(0);
    }

    private void serve(BufferedReader in) throws IOException {
        Map<String, Object> hello = new LinkedHashMap<String, Object>();
        hello.put("hello", "esmon-jmx");
        hello.put("protocol", PROTOCOL);
        hello.put("java", System.getProperty("java.version"));
        hello.put("vm", System.getProperty("java.vm.name"));
        send(hello);
        String line;
        while ((line = in.readLine()) != null) {
            if (line.trim().isEmpty()) {
                continue;
            }
            send(handle(line));
        }
        dropConnection();
    }

    private void send(Map<String, Object> msg) {
        StringBuilder b = new StringBuilder(256);
        Json.write(b, msg);
        b.append('\n');
        out.print(b);
        out.flush();
    }

    /** BadRequest is a request the bridge cannot act on. */
    static final class BadRequest extends Exception {
        private static final long serialVersionUID = 1L;

        BadRequest(String msg) {
            super(msg);
        }
    }

    private Map<String, Object> handle(String line) {
        double id = 0;
        try {
            Object v = Json.parse(line);
            if (!(v instanceof Map)) {
                throw new BadRequest("a request is a JSON object");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> req = (Map<String, Object>) v;
            Object rawID = req.get("id");
            if (!(rawID instanceof Double) || (Double) rawID != Math.rint((Double) rawID)) {
                throw new BadRequest("id must be a whole number");
            }
            id = (Double) rawID;
            String op = str(req, "op", true);
            if ("connect".equals(op)) {
                only(req, "id", "op", "url", "username", "password", "env");
                return connect(id, req);
            } else if ("query".equals(op)) {
                only(req, "id", "op", "timeout_ms", "queries");
                return query(id, req);
            } else if ("list".equals(op)) {
                only(req, "id", "op", "timeout_ms", "pattern");
                return list(id, req);
            }
            throw new BadRequest("unknown op \"" + op + "\"");
        } catch (BadRequest e) {
            return failure(id, "bad request: " + e.getMessage());
        } catch (Json.SyntaxError e) {
            return failure(id, "bad request: " + e.getMessage());
        }
    }

    private Map<String, Object> connect(double id, Map<String, Object> req) throws BadRequest {
        String u = str(req, "url", true);
        try {
            new JMXServiceURL(u);
        } catch (IOException e) {
            throw new BadRequest("url: " + e.getMessage());
        }
        Map<String, Object> e = new HashMap<String, Object>();
        Object rawEnv = req.get("env");
        if (rawEnv != null) {
            if (!(rawEnv instanceof Map)) {
                throw new BadRequest("env must be an object of strings");
            }
            for (Map.Entry<?, ?> kv : ((Map<?, ?>) rawEnv).entrySet()) {
                if (!(kv.getValue() instanceof String)) {
                    throw new BadRequest("env " + kv.getKey() + " must be a string");
                }
                e.put((String) kv.getKey(), kv.getValue());
            }
        }
        String user = str(req, "username", false);
        if (user != null && !user.isEmpty()) {
            String pass = str(req, "password", false);
            e.put(JMXConnector.CREDENTIALS, new String[] {user, pass == null ? "" : pass});
        }
        synchronized (this) {
            dropConnection();
            url = u;
            env = e;
        }
        Map<String, Object> r = response(id);
        r.put("ok", Boolean.TRUE);
        return r;
    }

    /** Query is one object name pattern and the attributes to read. */
    private static final class Query {
        ObjectName pattern;
        Map<String, String> labels = new TreeMap<String, String>();
        List<Attr> attrs = new ArrayList<Attr>();
    }

    /** Attr is one attribute, the path to a number in it, and its metric. */
    private static final class Attr {
        String attribute;
        String[] key = new String[0];
        String metric;
        double scale = 1;
    }

    private Map<String, Object> query(double id, Map<String, Object> req) throws BadRequest {
        final List<Query> qs = new ArrayList<Query>();
        for (Object o : list(req, "queries")) {
            qs.add(parseQuery(o));
        }
        final List<Object> samples = new ArrayList<Object>();
        final List<Object> errors = new ArrayList<Object>();
        final long gen = generation();
        String err = run(timeout(req), new Callable<Void>() {
            @Override
            public Void call() throws IOException {
                MBeanServerConnection c = connection(gen);
                for (Query q : qs) {
                    read(c, q, samples, errors);
                }
                return null;
            }
        });
        if (err != null) {
            return failure(id, err);
        }
        Map<String, Object> r = response(id);
        r.put("samples", samples);
        r.put("errors", errors);
        return r;
    }

    private static Query parseQuery(Object o) throws BadRequest {
        Map<String, Object> m = obj(o, "query");
        only(m, "object_name", "labels", "attributes");
        Query q = new Query();
        String name = str(m, "object_name", true);
        try {
            q.pattern = new ObjectName(name);
        } catch (MalformedObjectNameException e) {
            throw new BadRequest("object_name \"" + name + "\": " + e.getMessage());
        }
        if (m.get("labels") != null) {
            for (Map.Entry<String, Object> kv : obj(m.get("labels"), "labels").entrySet()) {
                if (!(kv.getValue() instanceof String)) {
                    throw new BadRequest("labels." + kv.getKey() + " must name an object name key");
                }
                q.labels.put(kv.getKey(), (String) kv.getValue());
            }
        }
        for (Object ao : list(m, "attributes")) {
            Map<String, Object> am = obj(ao, "attribute");
            only(am, "attribute", "key", "metric", "scale");
            Attr a = new Attr();
            a.attribute = str(am, "attribute", true);
            a.metric = str(am, "metric", true);
            String key = str(am, "key", false);
            if (key != null && !key.isEmpty()) {
                a.key = key.split("\\.", -1);
            }
            Object scale = am.get("scale");
            if (scale != null) {
                if (!(scale instanceof Double)) {
                    throw new BadRequest("scale must be a number");
                }
                a.scale = (Double) scale;
            }
            q.attrs.add(a);
        }
        return q;
    }

    /** read adds the samples of one query, and what failed to errors. */
    private static void read(MBeanServerConnection c, Query q, List<Object> samples, List<Object> errors)
            throws IOException {
        Set<ObjectName> names = c.queryNames(q.pattern, null);
        if (names.isEmpty()) {
            errors.add("no MBean matches " + q.pattern);
            return;
        }
        Set<String> wanted = new HashSet<String>();
        for (Attr a : q.attrs) {
            wanted.add(a.attribute);
        }
        String[] attrNames = wanted.toArray(new String[0]);
        Arrays.sort(attrNames);
        for (ObjectName n : names) {
            Map<String, Object> values = new HashMap<String, Object>();
            try {
                AttributeList got = c.getAttributes(n, attrNames);
                for (Attribute at : got.asList()) {
                    values.put(at.getName(), at.getValue());
                }
            } catch (IOException e) {
                if (!valueProblem(e)) {
                    throw e;
                }
                // One value could not be sent over; read them one by one
                // below, so the others still count.
            } catch (Exception e) {
                errors.add(n + ": " + describe(e));
                continue;
            }
            Map<String, Object> labels = new TreeMap<String, Object>();
            for (Map.Entry<String, String> l : q.labels.entrySet()) {
                String v = n.getKeyProperty(l.getValue());
                if (v != null) {
                    labels.put(l.getKey(), unquote(v));
                }
            }
            for (Attr a : q.attrs) {
                if (!values.containsKey(a.attribute)) {
                    // getAttributes leaves out what it could not read; ask
                    // again for this one to learn why.
                    try {
                        values.put(a.attribute, c.getAttribute(n, a.attribute));
                    } catch (IOException e) {
                        if (!valueProblem(e)) {
                            throw e;
                        }
                        errors.add(n + " " + a.attribute + ": " + describe(e));
                        values.put(a.attribute, Missing.VALUE);
                        continue;
                    } catch (Exception e) {
                        errors.add(n + " " + a.attribute + ": " + describe(e));
                        values.put(a.attribute, Missing.VALUE);
                        continue;
                    }
                }
                Object v = values.get(a.attribute);
                if (v == Missing.VALUE) {
                    continue;
                }
                double d;
                try {
                    d = number(v, a.key) * a.scale;
                } catch (ValueError e) {
                    errors.add(n + " " + a.attribute + keyText(a) + ": " + e.getMessage());
                    continue;
                }
                if (Double.isNaN(d) || Double.isInfinite(d)) {
                    errors.add(n + " " + a.attribute + keyText(a) + ": not a finite number");
                    continue;
                }
                if (d < 0) {
                    // JMX says "undefined" with -1: a max with no limit, a
                    // CPU load not measured yet.
                    continue;
                }
                Map<String, Object> s = new LinkedHashMap<String, Object>();
                s.put("metric", a.metric);
                s.put("labels", labels);
                s.put("value", d);
                samples.add(s);
            }
        }
    }

    /**
     * valueProblem tells an attribute whose value cannot be sent over (a
     * vendor class missing from the class path) from a broken connection.
     */
    private static boolean valueProblem(IOException e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ClassNotFoundException || t instanceof java.io.ObjectStreamException) {
                return true;
            }
        }
        return false;
    }

    /** Missing marks an attribute that could not be read. */
    private enum Missing { VALUE }

    private static String keyText(Attr a) {
        return a.key.length == 0 ? "" : "." + join(a.key);
    }

    private static String join(String[] parts) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) {
                b.append('.');
            }
            b.append(parts[i]);
        }
        return b.toString();
    }

    /** ValueError is an attribute value that yields no number. */
    static final class ValueError extends Exception {
        private static final long serialVersionUID = 1L;

        ValueError(String msg) {
            super(msg);
        }
    }

    /**
     * number follows path into v and returns the number found there. A step
     * looks up a key of CompositeData or a Map, a statistic of a JSR-77
     * Stats object (WebSphere PMI: getStatistic), or a getter (current
     * calls getCurrent). A statistic at the end of the path gives its
     * current value, or else its count.
     */
    static double number(Object v, String[] path) throws ValueError {
        for (String step : path) {
            v = step(v, step);
        }
        if (v instanceof Number) {
            return ((Number) v).doubleValue();
        }
        if (v instanceof Boolean) {
            return ((Boolean) v).booleanValue() ? 1 : 0;
        }
        if (v != null) {
            for (String getter : new String[] {"getCurrent", "getCount"}) {
                Method m = publicMethod(v.getClass(), getter);
                if (m != null) {
                    return number(invoke(m, v), new String[0]);
                }
            }
        }
        throw new ValueError("a value of type " + typeName(v) + " is not a number; name a key in it");
    }

    private static Object step(Object v, String key) throws ValueError {
        if (v instanceof CompositeData) {
            CompositeData cd = (CompositeData) v;
            if (!cd.containsKey(key)) {
                throw new ValueError("no key \"" + key + "\" in " + cd.getCompositeType().keySet());
            }
            return cd.get(key);
        }
        if (v instanceof Map) {
            Map<?, ?> m = (Map<?, ?>) v;
            if (!m.containsKey(key)) {
                throw new ValueError("no key \"" + key + "\" in the map");
            }
            return m.get(key);
        }
        if (v != null && !key.isEmpty()) {
            Method m = publicMethod(v.getClass(), "getStatistic", String.class);
            if (m != null) {
                Object s = invoke(m, v, key);
                if (s == null) {
                    throw new ValueError("no statistic \"" + key + "\"");
                }
                return s;
            }
            String cap = Character.toUpperCase(key.charAt(0)) + key.substring(1);
            m = publicMethod(v.getClass(), "get" + cap);
            if (m == null) {
                m = publicMethod(v.getClass(), "is" + cap);
            }
            if (m != null) {
                return invoke(m, v);
            }
        }
        throw new ValueError("cannot look up \"" + key + "\" in a value of type " + typeName(v));
    }

    private static String typeName(Object v) {
        return v == null ? "null" : v.getClass().getName();
    }

    /**
     * publicMethod finds a method that can be called from here: one declared
     * by a public class or interface, as vendor statistics are often
     * private classes behind public interfaces.
     */
    private static Method publicMethod(Class<?> c, String name, Class<?>... params) {
        for (Class<?> k = c; k != null; k = k.getSuperclass()) {
            Method m = declared(k, name, params);
            if (m != null) {
                return m;
            }
            for (Class<?> i : k.getInterfaces()) {
                m = publicInterfaceMethod(i, name, params);
                if (m != null) {
                    return m;
                }
            }
        }
        return null;
    }

    private static Method publicInterfaceMethod(Class<?> i, String name, Class<?>... params) {
        Method m = declared(i, name, params);
        if (m != null) {
            return m;
        }
        for (Class<?> sup : i.getInterfaces()) {
            m = publicInterfaceMethod(sup, name, params);
            if (m != null) {
                return m;
            }
        }
        return null;
    }

    private static Method declared(Class<?> k, String name, Class<?>... params) {
        if (!Modifier.isPublic(k.getModifiers())) {
            return null;
        }
        try {
            Method m = k.getDeclaredMethod(name, params);
            return Modifier.isPublic(m.getModifiers()) && !Modifier.isStatic(m.getModifiers()) ? m : null;
        } catch (NoSuchMethodException e) {
            return null;
        }
    }

    private static Object invoke(Method m, Object target, Object... args) throws ValueError {
        try {
            return m.invoke(target, args);
        } catch (IllegalAccessException e) {
            throw new ValueError(m.getName() + ": " + describe(e));
        } catch (InvocationTargetException e) {
            throw new ValueError(m.getName() + ": " + describe(e.getCause()));
        }
    }

    private Map<String, Object> list(double id, Map<String, Object> req) throws BadRequest {
        String p = str(req, "pattern", false);
        final ObjectName pattern;
        try {
            pattern = new ObjectName(p == null || p.isEmpty() ? "*:*" : p);
        } catch (MalformedObjectNameException e) {
            throw new BadRequest("pattern: " + e.getMessage());
        }
        final List<Object> mbeans = new ArrayList<Object>();
        final long gen = generation();
        String err = run(timeout(req), new Callable<Void>() {
            @Override
            public Void call() throws Exception {
                MBeanServerConnection c = connection(gen);
                Set<ObjectName> names = new java.util.TreeSet<ObjectName>(c.queryNames(pattern, null));
                for (ObjectName n : names) {
                    if (mbeans.size() >= MAX_LIST) {
                        break;
                    }
                    Map<String, Object> mb = new LinkedHashMap<String, Object>();
                    mb.put("name", n.getCanonicalName());
                    List<Object> attrs = new ArrayList<Object>();
                    try {
                        for (MBeanAttributeInfo ai : c.getMBeanInfo(n).getAttributes()) {
                            Map<String, Object> a = new LinkedHashMap<String, Object>();
                            a.put("name", ai.getName());
                            a.put("type", ai.getType());
                            attrs.add(a);
                        }
                    } catch (IOException e) {
                        throw e;
                    } catch (Exception e) {
                        mb.put("error", describe(e));
                    }
                    mb.put("attributes", attrs);
                    mbeans.add(mb);
                }
                return null;
            }
        });
        if (err != null) {
            return failure(id, err);
        }
        Map<String, Object> r = response(id);
        r.put("mbeans", mbeans);
        return r;
    }

    private synchronized long generation() {
        return generation;
    }

    /**
     * connection returns the open connection, making one if needed, for a
     * request started in generation gen.
     */
    private MBeanServerConnection connection(long gen) throws IOException {
        String u;
        Map<String, Object> e;
        synchronized (this) {
            if (conn != null) {
                return conn;
            }
            if (url == null) {
                throw new IOException("not configured: send connect first");
            }
            u = url;
            e = env;
            connecting = true;
        }
        JMXConnector c;
        MBeanServerConnection mbsc;
        try {
            c = JMXConnectorFactory.connect(new JMXServiceURL(u), e);
            try {
                mbsc = c.getMBeanServerConnection();
            } catch (IOException ex) {
                closeInBackground(c);
                throw ex;
            }
        } finally {
            synchronized (this) {
                connecting = false;
            }
        }
        synchronized (this) {
            if (gen != generation) {
                closeInBackground(c);
                throw new IOException("request abandoned");
            }
            connector = c;
            conn = mbsc;
        }
        System.err.println("esmon-jmx: connected to " + u);
        return mbsc;
    }

    /** dropConnection forgets the connection and closes it in the background. */
    private synchronized void dropConnection() {
        generation++;
        JMXConnector c = connector;
        connector = null;
        conn = null;
        if (c != null) {
            closeInBackground(c);
        }
    }

    private static void closeInBackground(final JMXConnector c) {
        Thread t = new Thread(new Runnable() {
            @Override
            public void run() {
                try {
                    c.close();
                } catch (Exception ignored) {
                    // The connection is gone either way.
                }
            }
        }, "esmon-jmx-close");
        t.setDaemon(true);
        t.start();
    }

    /**
     * run calls work on the worker thread and waits at most timeoutMs. It
     * returns null when work finished, or why not. A timeout or a broken
     * connection drops the connection, so the next request starts afresh.
     */
    private String run(long timeoutMs, Callable<Void> work) {
        if (worker == null) {
            worker = Executors.newSingleThreadExecutor(new ThreadFactory() {
                @Override
                public Thread newThread(Runnable r) {
                    Thread t = new Thread(r, "esmon-jmx-worker");
                    t.setDaemon(true);
                    return t;
                }
            });
        }
        Future<Void> f = worker.submit(work);
        try {
            f.get(timeoutMs, TimeUnit.MILLISECONDS);
            return null;
        } catch (TimeoutException e) {
            synchronized (this) {
                if (connecting) {
                    // A slow first connection (a cold JVM, a busy server)
                    // is left to finish on the worker: the next request
                    // waits behind it and finds it made.
                    return "still connecting after " + timeoutMs + " ms";
                }
            }
            f.cancel(true);
            worker.shutdownNow();
            worker = null;
            dropConnection();
            return "timed out after " + timeoutMs + " ms; the connection is reset";
        } catch (ExecutionException e) {
            dropConnection();
            Throwable cause = e.getCause();
            String what = cause instanceof IOException ? "connection: " : "";
            return what + describe(cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    private static long timeout(Map<String, Object> req) throws BadRequest {
        Object t = req.get("timeout_ms");
        if (t == null) {
            return DEFAULT_TIMEOUT_MS;
        }
        if (!(t instanceof Double) || (Double) t < 1) {
            throw new BadRequest("timeout_ms must be a positive number");
        }
        return (long) (double) (Double) t;
    }

    /** describe names an exception and its root cause, briefly. */
    static String describe(Throwable t) {
        StringBuilder b = new StringBuilder();
        b.append(t.getClass().getSimpleName());
        if (t.getMessage() != null) {
            b.append(": ").append(t.getMessage());
        }
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        if (root != t) {
            b.append(" (cause: ").append(root.getClass().getSimpleName());
            if (root.getMessage() != null) {
                b.append(": ").append(root.getMessage());
            }
            b.append(')');
        }
        String s = b.toString().replace('\n', ' ').replace('\t', ' ');
        return s.length() > MAX_ERROR ? s.substring(0, MAX_ERROR) + "…" : s;
    }

    private static String unquote(String v) {
        if (v.length() >= 2 && v.charAt(0) == '"') {
            try {
                return ObjectName.unquote(v);
            } catch (IllegalArgumentException e) {
                return v;
            }
        }
        return v;
    }

    private static Map<String, Object> response(double id) {
        Map<String, Object> r = new LinkedHashMap<String, Object>();
        r.put("id", (long) id);
        return r;
    }

    private static Map<String, Object> failure(double id, String err) {
        Map<String, Object> r = response(id);
        r.put("error", err);
        return r;
    }

    private static void only(Map<String, Object> m, String... keys) throws BadRequest {
        Set<String> ok = new HashSet<String>(Arrays.asList(keys));
        for (String k : m.keySet()) {
            if (!ok.contains(k)) {
                throw new BadRequest("unknown field \"" + k + "\"");
            }
        }
    }

    private static String str(Map<String, Object> m, String key, boolean required) throws BadRequest {
        Object v = m.get(key);
        if (v == null) {
            if (required) {
                throw new BadRequest(key + " is required");
            }
            return null;
        }
        if (!(v instanceof String)) {
            throw new BadRequest(key + " must be a string");
        }
        return (String) v;
    }

    private static List<?> list(Map<String, Object> m, String key) throws BadRequest {
        Object v = m.get(key);
        if (!(v instanceof List)) {
            throw new BadRequest(key + " must be an array");
        }
        return (List<?>) v;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> obj(Object v, String what) throws BadRequest {
        if (!(v instanceof Map)) {
            throw new BadRequest(what + " must be an object");
        }
        return (Map<String, Object>) v;
    }
}
