// Applies ACL bindings to a Kafka cluster in one Admin API call (the test of the ACL plan:
// tests/integration/test_kafka_security.py). Run as a single-file program with the broker's
// jars: java -cp "<kafka libs>/*" ApplyAcls.java <admin client properties>  < bindings
// Each input line: <principal> <operation> <resource type> <resource name> <pattern type>.
import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class ApplyAcls {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            config.load(in);
        }
        List<AclBinding> bindings = new ArrayList<>();
        BufferedReader lines = new BufferedReader(new InputStreamReader(System.in));
        for (String line = lines.readLine(); line != null; line = lines.readLine()) {
            if (line.isBlank()) {
                continue;
            }
            String[] field = line.trim().split(" ");
            ResourcePattern resource = new ResourcePattern(
                ResourceType.fromString(field[2]), field[3], PatternType.fromString(field[4]));
            AccessControlEntry entry = new AccessControlEntry(
                field[0], "*", AclOperation.fromString(field[1]), AclPermissionType.ALLOW);
            bindings.add(new AclBinding(resource, entry));
        }
        try (Admin admin = Admin.create(config)) {
            admin.createAcls(bindings).all().get();
        }
        System.out.println(bindings.size());
    }
}
