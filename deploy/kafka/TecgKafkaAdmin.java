// Small Kafka admin helper for deploy/kafka/{start,topics}: one JVM does what
// would otherwise take one kafka-topics / kafka-configs JVM per topic.
// Uses only kafka-clients (AdminClient). Compiled once by deploy/kafka/lib.sh
// into the jar cache; works as a single-file source program too:
//   java -cp 'libs/*' TecgKafkaAdmin.java <command> ...
//
// Commands (BOOTSTRAP is host:port[,host:port...]):
//   wait BOOTSTRAP SECONDS [BROKERS]
//       Returns 0 once a broker answers a metadata request, 1 on timeout.
//       With BROKERS: once that many brokers are registered and unfenced and
//       the controller quorum has a leader.
//   ensure BOOTSTRAP [--replication-factor N] [--min-insync-replicas M]
//          [--copartition T1,T2[,...]] SPEC...
//       SPEC is NAME=PARTITIONS[,key=value...], e.g.
//       tecg.nation-state=8,cleanup.policy=compact
//       Creates missing topics with replication factor N (default min(3,
//       brokers registered)) and min.insync.replicas M (default 2 when N is
//       3 or more, else 1), refusing N larger than the cluster or M larger
//       than N; sets the given configs (and M) on existing topics whose
//       values differ, warns when an existing topic has another partition
//       count or replication factor, and fails if the --copartition topics
//       do not all have the same partition count.
//   describe BOOTSTRAP [TOPIC...]
//       One line per topic: name, partitions, replication factor,
//       min.insync.replicas, cleanup.policy and the other configs set
//       explicitly on the topic. No TOPIC: all non-internal.
//   acls BOOTSTRAP --prefix P --nations N1,N2,... [--aggregator-group G]
//        [--dashboard-group G]
//       Creates (idempotently) the ACLs of the tecg users for the topics of
//       prefix P, their consumer groups and transactional ids: the table in
//       docs/operations.md, "A secured cluster". Prints how many exist.
//   scram-set BOOTSTRAP USER
//       Sets USER's SCRAM-SHA-512 password to the first line of stdin (a
//       new user or a rotation); the password never is an argument.
//   format --scram-file FILE STORAGE-FORMAT-ARGS...
//       Runs Kafka's StorageTool format in this JVM with one --add-scram
//       SCRAM-SHA-512 credential per "USER PASSWORD" line of FILE, so the
//       passwords never appear on a command line (ps). No BOOTSTRAP.
//
// Every command takes --command-config FILE (anywhere): Java client
// properties (security.protocol, sasl.*, ssl.*) for a secured cluster.
import java.io.BufferedReader;
import java.io.FileReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

public final class TecgKafkaAdmin {
    private static final String ME = "tecg-kafka-admin";

    // The consumer group tecg-ctl's readers name (tools/ctl/ctl_kafka.c).
    private static final String CTL_GROUP = "tecg-ctl";

    // Client security settings from --command-config (empty: PLAINTEXT).
    private static final Properties SECURITY = new Properties();

    private static final class Spec {
        final String name;
        final int partitions;
        final Map<String, String> configs = new LinkedHashMap<>();

        Spec(String text) {
            String[] parts = text.split(",");
            int eq = parts[0].indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("bad topic spec '" + text + "' (want NAME=PARTITIONS[,key=value...])");
            }
            name = parts[0].substring(0, eq);
            try {
                partitions = Integer.parseInt(parts[0].substring(eq + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad partition count in topic spec '" + text + "'");
            }
            if (partitions < 1) {
                throw new IllegalArgumentException("partition count must be >= 1 in '" + text + "'");
            }
            for (int i = 1; i < parts.length; i++) {
                int e = parts[i].indexOf('=');
                if (e <= 0) {
                    throw new IllegalArgumentException("bad config '" + parts[i] + "' in topic spec '" + text + "'");
                }
                configs.put(parts[i].substring(0, e), parts[i].substring(e + 1));
            }
        }
    }

    private static Admin admin(String bootstrap, int apiTimeoutMs) {
        Properties p = new Properties();
        p.putAll(SECURITY);
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, ME);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, Integer.toString(Math.min(apiTimeoutMs, 10000)));
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Integer.toString(apiTimeoutMs));
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        p.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");
        return Admin.create(p);
    }

    private static Throwable cause(Throwable t) {
        while ((t instanceof ExecutionException || t.getClass() == RuntimeException.class) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    private static String hint(Throwable c, String bootstrap) {
        return c instanceof org.apache.kafka.common.errors.TimeoutException
                ? " (is a broker running at " + bootstrap + "? deploy/kafka/start starts one)"
                : "";
    }

    private static void die(String msg) {
        System.err.println(ME + ": " + msg);
        System.exit(1);
    }

    private static int cmdWait(String bootstrap, int seconds, int brokers) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        try (Admin a = admin(bootstrap, 5000)) {
            while (true) {
                try {
                    Collection<Node> nodes = a.describeCluster(new DescribeClusterOptions().timeoutMs(2000))
                            .nodes().get();
                    if (brokers == 0 && !nodes.isEmpty()) {
                        return 0;
                    }
                    if (brokers > 0 && nodes.size() >= brokers) {
                        QuorumInfo q = a.describeMetadataQuorum().quorumInfo().get(2, TimeUnit.SECONDS);
                        if (q.leaderId() >= 0) {
                            return 0;
                        }
                    }
                } catch (Exception e) {
                    // not up yet
                }
                if (System.nanoTime() > deadline) {
                    return 1;
                }
                Thread.sleep(250);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
    }

    // Topic descriptions, retrying briefly: a topic created a moment ago may
    // not be in the broker's metadata cache yet.
    private static Map<String, TopicDescription> describeTopics(Admin a, Collection<String> names) throws Exception {
        Exception last = null;
        for (int attempt = 0; attempt < 50; attempt++) {
            try {
                return a.describeTopics(names).allTopicNames().get();
            } catch (ExecutionException e) {
                if (!(cause(e) instanceof UnknownTopicOrPartitionException)) {
                    throw e;
                }
                last = e;
                Thread.sleep(100);
            }
        }
        throw last;
    }

    private static Map<String, Config> describeConfigs(Admin a, Collection<String> names) throws Exception {
        List<ConfigResource> rs = new ArrayList<>();
        for (String n : names) {
            rs.add(new ConfigResource(ConfigResource.Type.TOPIC, n));
        }
        Map<String, Config> out = new TreeMap<>();
        for (Map.Entry<ConfigResource, Config> e : a.describeConfigs(rs).all().get().entrySet()) {
            out.put(e.getKey().name(), e.getValue());
        }
        return out;
    }

    private static int replicationFactor(TopicDescription d) {
        return d.partitions().isEmpty() ? 0 : d.partitions().get(0).replicas().size();
    }

    private static String describeLine(String name, TopicDescription d, Config c) {
        StringBuilder sb = new StringBuilder();
        sb.append(name).append(" partitions=").append(d.partitions().size());
        sb.append(" replicas=").append(replicationFactor(d));
        ConfigEntry mi = c.get("min.insync.replicas");
        sb.append(" min.insync.replicas=").append(mi == null ? "?" : mi.value());
        ConfigEntry cp = c.get("cleanup.policy");
        sb.append(" cleanup.policy=").append(cp == null ? "?" : cp.value());
        TreeMap<String, String> set = new TreeMap<>();
        for (ConfigEntry e : c.entries()) {
            if (e.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG && !e.name().equals("cleanup.policy")
                    && !e.name().equals("min.insync.replicas")) {
                set.put(e.name(), e.value());
            }
        }
        for (Map.Entry<String, String> e : set.entrySet()) {
            sb.append(' ').append(e.getKey()).append('=').append(e.getValue());
        }
        return sb.toString();
    }

    private static int intArg(List<String> args, int i, String name) {
        if (i >= args.size()) {
            die(name + " needs a value");
        }
        try {
            int v = Integer.parseInt(args.get(i));
            if (v >= 1) {
                return v;
            }
        } catch (NumberFormatException e) {
            // below
        }
        die("bad " + name + " '" + args.get(i) + "' (want a number >= 1)");
        return 0;
    }

    private static int cmdEnsure(String bootstrap, List<String> args) throws Exception {
        List<List<String>> copartition = new ArrayList<>();
        List<Spec> specs = new ArrayList<>();
        int rf = 0;
        int minIsr = 0;
        for (int i = 0; i < args.size(); i++) {
            if (args.get(i).equals("--copartition")) {
                if (i + 1 >= args.size()) {
                    die("--copartition needs a value");
                }
                copartition.add(List.of(args.get(++i).split(",")));
            } else if (args.get(i).equals("--replication-factor")) {
                rf = intArg(args, ++i, "--replication-factor");
            } else if (args.get(i).equals("--min-insync-replicas")) {
                minIsr = intArg(args, ++i, "--min-insync-replicas");
            } else {
                specs.add(new Spec(args.get(i)));
            }
        }
        if (specs.isEmpty()) {
            die("no topics given");
        }
        Map<String, Spec> byName = new LinkedHashMap<>();
        for (Spec s : specs) {
            byName.put(s.name, s);
        }

        int rc = 0;
        try (Admin a = admin(bootstrap, 20000)) {
            // Brokers registered, fenced ones too: a node that is down for a
            // moment must not lower the default replication factor.
            int brokers = a.describeCluster(new DescribeClusterOptions().includeFencedBrokers(true))
                    .nodes().get().size();
            if (rf == 0) {
                rf = Math.min(3, brokers);
            } else if (rf > brokers) {
                die("replication factor " + rf + " is larger than the cluster: " + brokers
                        + (brokers == 1 ? " broker" : " brokers") + " at " + bootstrap
                        + " (each replica needs its own broker)");
            }
            if (minIsr == 0) {
                minIsr = rf >= 3 ? 2 : 1;
            } else if (minIsr > rf) {
                die("min.insync.replicas " + minIsr + " is larger than the replication factor " + rf
                        + " (no write could ever succeed)");
            }
            for (Spec s : specs) {
                s.configs.putIfAbsent("min.insync.replicas", Integer.toString(minIsr));
            }
            List<NewTopic> news = new ArrayList<>();
            for (Spec s : specs) {
                news.add(new NewTopic(s.name, s.partitions, (short) rf).configs(s.configs));
            }
            Map<String, String> status = new LinkedHashMap<>();
            Map<String, KafkaFuture<Void>> created;
            try {
                created = a.createTopics(news).values();
            } catch (Exception e) {
                die("cannot create topics on " + bootstrap + ": " + cause(e));
                return 1;
            }
            for (Map.Entry<String, KafkaFuture<Void>> e : created.entrySet()) {
                try {
                    e.getValue().get();
                    status.put(e.getKey(), "created");
                } catch (ExecutionException ex) {
                    Throwable c = cause(ex);
                    if (c instanceof TopicExistsException) {
                        status.put(e.getKey(), "exists");
                    } else {
                        die("creating topic " + e.getKey() + " on " + bootstrap + " failed: " + c + hint(c, bootstrap));
                    }
                }
            }

            Map<String, TopicDescription> desc = describeTopics(a, byName.keySet());
            Map<String, Config> confs = describeConfigs(a, byName.keySet());

            // Existing topics: bring explicitly requested configs in line.
            Map<ConfigResource, Collection<AlterConfigOp>> alters = new LinkedHashMap<>();
            for (Spec s : specs) {
                if (!status.get(s.name).equals("exists")) {
                    continue;
                }
                List<AlterConfigOp> ops = new ArrayList<>();
                for (Map.Entry<String, String> c : s.configs.entrySet()) {
                    if (c.getKey().equals("min.insync.replicas")
                            && Integer.parseInt(c.getValue()) > replicationFactor(desc.get(s.name))) {
                        // Above the topic's own factor no write could succeed.
                        System.err.println(ME + ": warning: topic " + s.name + " has replication factor "
                                + replicationFactor(desc.get(s.name)) + ": min.insync.replicas "
                                + c.getValue() + " not set (raise its replication factor first)");
                        continue;
                    }
                    ConfigEntry cur = confs.get(s.name).get(c.getKey());
                    if (cur == null || !c.getValue().equals(cur.value())) {
                        ops.add(new AlterConfigOp(new ConfigEntry(c.getKey(), c.getValue()), AlterConfigOp.OpType.SET));
                    }
                }
                if (!ops.isEmpty()) {
                    alters.put(new ConfigResource(ConfigResource.Type.TOPIC, s.name), ops);
                    status.put(s.name, "exists, configs updated");
                }
            }
            if (!alters.isEmpty()) {
                a.incrementalAlterConfigs(alters).all().get();
                confs = describeConfigs(a, byName.keySet());
            }

            for (Spec s : specs) {
                TopicDescription d = desc.get(s.name);
                System.out.println(describeLine(s.name, d, confs.get(s.name)) + " (" + status.get(s.name) + ")");
                if (d.partitions().size() != s.partitions) {
                    System.err.println(ME + ": warning: topic " + s.name + " exists with " + d.partitions().size()
                            + " partitions, not the " + s.partitions + " asked for (left as is; delete it or wipe the broker to change)");
                }
                if (replicationFactor(d) != rf) {
                    System.err.println(ME + ": warning: topic " + s.name + " exists with replication factor "
                            + replicationFactor(d) + ", not the " + rf + " asked for (left as is; a partition"
                            + " reassignment changes it)");
                }
            }

            for (List<String> group : copartition) {
                TreeSet<Integer> counts = new TreeSet<>();
                Map<String, Integer> seen = new LinkedHashMap<>();
                Map<String, TopicDescription> gd = describeTopics(a, group);
                for (String n : group) {
                    int np = gd.get(n).partitions().size();
                    counts.add(np);
                    seen.put(n, np);
                }
                if (counts.size() > 1) {
                    System.err.println(ME + ": error: these topics must have the same partition count: " + seen);
                    rc = 1;
                }
            }
        }
        return rc;
    }

    private static int cmdDescribe(String bootstrap, List<String> names) throws Exception {
        try (Admin a = admin(bootstrap, 20000)) {
            Collection<String> ns = names;
            if (ns.isEmpty()) {
                ns = new TreeSet<>(a.listTopics().names().get());
            }
            if (ns.isEmpty()) {
                return 0;
            }
            Map<String, TopicDescription> desc;
            try {
                desc = a.describeTopics(ns).allTopicNames().get();
            } catch (ExecutionException e) {
                die(cause(e).getMessage());
                return 1;
            }
            Map<String, Config> confs = describeConfigs(a, ns);
            for (String n : new TreeSet<>(ns)) {
                System.out.println(describeLine(n, desc.get(n), confs.get(n)));
            }
        }
        return 0;
    }


    private static String option(List<String> args, String name, String def) {
        int i = args.indexOf(name);
        if (i < 0) {
            return def;
        }
        if (i + 1 >= args.size()) {
            die(name + " needs a value");
        }
        String v = args.get(i + 1);
        args.remove(i + 1);
        args.remove(i);
        return v;
    }

    private static void allow(List<AclBinding> out, String user, ResourceType type, String name,
            PatternType pattern, AclOperation... ops) {
        for (AclOperation op : ops) {
            out.add(new AclBinding(new ResourcePattern(type, name, pattern),
                    new AccessControlEntry("User:" + user, "*", op, AclPermissionType.ALLOW)));
        }
    }

    // The whole ACL table of the secured local cluster. Read implies
    // Describe and Write implies Describe for Kafka's authorizer, but the
    // Describe grants are kept explicit so the table reads as documented.
    static List<AclBinding> tecgAcls(String prefix, List<String> nations, String aggGroup, String dashGroup) {
        final ResourceType topic = ResourceType.TOPIC;
        final PatternType lit = PatternType.LITERAL;
        final AclOperation r = AclOperation.READ;
        final AclOperation w = AclOperation.WRITE;
        final AclOperation d = AclOperation.DESCRIBE;
        String[] inputs = {prefix + "contributions", prefix + "training-completions"};
        List<AclBinding> out = new ArrayList<>();
        for (String n : nations) {
            String u = "producer-" + n;
            for (String t : inputs) {
                allow(out, u, topic, t, lit, w, d);
            }
            allow(out, u, ResourceType.CLUSTER, "kafka-cluster", lit, AclOperation.IDEMPOTENT_WRITE);
        }
        String a = "aggregator";
        for (String t : inputs) {
            allow(out, a, topic, t, lit, r, d);
        }
        allow(out, a, topic, prefix + "nation-state", lit, r, w, d);
        allow(out, a, topic, prefix + "event-ids", lit, r, w, d);
        allow(out, a, topic, prefix + "dead-letter", lit, w, d);
        allow(out, a, ResourceType.GROUP, aggGroup, lit, r, d);
        allow(out, a, ResourceType.GROUP, aggGroup + "-restore", lit, r, d);
        allow(out, a, ResourceType.TRANSACTIONAL_ID, "tecg-aggregator-", PatternType.PREFIXED, w, d);
        allow(out, a, ResourceType.CLUSTER, "kafka-cluster", lit, AclOperation.IDEMPOTENT_WRITE);
        String b = "dashboard";
        allow(out, b, topic, prefix + "nation-state", lit, r, d);
        allow(out, b, topic, prefix + "dashboards", lit, r, w, d);
        allow(out, b, ResourceType.GROUP, dashGroup, lit, r, d);
        allow(out, b, ResourceType.CLUSTER, "kafka-cluster", lit, AclOperation.IDEMPOTENT_WRITE);
        // tecg-ctl: reads every topic (decode, dead-letter, status), writes
        // the inputs only (dead-letter replay sends an original back to its
        // source). Its group only needs Describe: it assigns partitions
        // itself and commits nothing, librdkafka merely finds the group's
        // coordinator. Describe on the aggregator's group lets status fetch
        // its committed offsets (OffsetFetch) but never commit to it (Read).
        // No IdempotentWrite: Kafka lets an idempotent producer with Write
        // on a topic start (InitProducerId), and replay needs no more.
        String c = "ctl";
        for (String t : inputs) {
            allow(out, c, topic, t, lit, r, w, d);
        }
        for (String t : new String[] {"nation-state", "event-ids", "dashboards", "dead-letter"}) {
            allow(out, c, topic, prefix + t, lit, r, d);
        }
        allow(out, c, ResourceType.GROUP, CTL_GROUP, lit, d);
        allow(out, c, ResourceType.GROUP, aggGroup, lit, d);
        return out;
    }

    private static int cmdAcls(String bootstrap, List<String> args) throws Exception {
        String prefix = option(args, "--prefix", "tecg.");
        String nations = option(args, "--nations", "");
        String aggGroup = option(args, "--aggregator-group", "tecg-aggregator");
        String dashGroup = option(args, "--dashboard-group", "tecg-dashboard");
        if (!args.isEmpty()) {
            die("acls: unexpected arguments " + args);
        }
        List<String> ns = new ArrayList<>();
        for (String n : nations.split(",")) {
            if (!n.isBlank()) {
                ns.add(n.trim());
            }
        }
        List<AclBinding> acls = tecgAcls(prefix, ns, aggGroup, dashGroup);
        try (Admin a = admin(bootstrap, 20000)) {
            // Creating a binding that exists already is a no-op.
            a.createAcls(acls).all().get();
        }
        System.out.println("acls: " + acls.size() + " bindings for prefix " + prefix + ", "
                + ns.size() + " producer users, aggregator, dashboard and ctl");
        return 0;
    }

    private static int cmdScramSet(String bootstrap, List<String> args) throws Exception {
        if (args.size() != 1) {
            die("usage: scram-set BOOTSTRAP USER (password on stdin)");
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String pw = in.readLine();
        if (pw == null || pw.isEmpty()) {
            die("scram-set: no password on stdin");
        }
        try (Admin a = admin(bootstrap, 20000)) {
            a.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(args.get(0),
                    new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), pw))).all().get();
        }
        System.out.println("scram-set: SCRAM-SHA-512 credential of " + args.get(0) + " set");
        return 0;
    }

    private static void cmdFormat(List<String> args) throws Exception {
        String file = option(args, "--scram-file", null);
        if (file == null) {
            die("format needs --scram-file FILE");
        }
        List<String> argv = new ArrayList<>();
        argv.add("format");
        argv.addAll(args);
        try (BufferedReader r = new BufferedReader(new FileReader(file, StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                String[] f = line.trim().split("\\s+");
                if (f.length != 2) {
                    continue;
                }
                argv.add("--add-scram");
                argv.add("SCRAM-SHA-512=[name=" + f[0] + ",password=" + f[1] + "]");
            }
        }
        // StorageTool is Scala: its static main forwarder exits the JVM.
        Class.forName("kafka.tools.StorageTool").getMethod("main", String[].class)
                .invoke(null, (Object) argv.toArray(new String[0]));
    }

    public static void main(String[] argv) {
        List<String> all = new ArrayList<>(List.of(argv));
        String config = option(all, "--command-config", null);
        if (config != null) {
            try (FileReader r = new FileReader(config, StandardCharsets.UTF_8)) {
                SECURITY.load(r);
            } catch (java.io.IOException e) {
                die("cannot read --command-config " + config + ": " + e.getMessage());
            }
        }
        if (all.size() >= 1 && all.get(0).equals("format")) {
            try {
                cmdFormat(new ArrayList<>(all.subList(1, all.size())));
            } catch (Exception e) {
                die("format failed: " + cause(e));
            }
            return;
        }
        if (all.size() < 2) {
            die("usage: TecgKafkaAdmin wait|ensure|describe|acls|scram-set BOOTSTRAP ...");
        }
        String cmd = all.get(0);
        String bootstrap = all.get(1);
        List<String> rest = new ArrayList<>(all.subList(2, all.size()));
        int rc;
        try {
            switch (cmd) {
                case "wait":
                    rc = cmdWait(bootstrap, rest.isEmpty() ? 60 : Integer.parseInt(rest.get(0)),
                            rest.size() < 2 ? 0 : Integer.parseInt(rest.get(1)));
                    break;
                case "ensure":
                    rc = cmdEnsure(bootstrap, rest);
                    break;
                case "describe":
                    rc = cmdDescribe(bootstrap, rest);
                    break;
                case "acls":
                    rc = cmdAcls(bootstrap, rest);
                    break;
                case "scram-set":
                    rc = cmdScramSet(bootstrap, rest);
                    break;
                default:
                    die("unknown command " + cmd);
                    return;
            }
        } catch (IllegalArgumentException e) {
            die(e.getMessage());
            return;
        } catch (Exception e) {
            Throwable c = cause(e);
            die(cmd + " failed: " + c + hint(c, bootstrap));
            return;
        }
        System.exit(rc);
    }
}
