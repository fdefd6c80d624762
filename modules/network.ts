/**
 * A private network for the digest task: two private subnets in two AZs, flow logs to an
 * encrypted log group, the default security group emptied, interface endpoints (ssm,
 * email, logs, ecr.api, ecr.dkr) in one or both AZs and the s3 and dynamodb gateway
 * endpoints, so the task reaches AWS privately. With `allowInternetEgress` (a real stage's
 * feeds), one NAT gateway in a public subnet of the first AZ carries HTTPS to the internet;
 * which names the task can resolve is the DNS firewall's business (dns-firewall.ts).
 */
import { Construct } from "constructs";
import { Fn } from "cdktf";
import { Vpc } from "@cdktf/provider-aws/lib/vpc";
import { Subnet } from "@cdktf/provider-aws/lib/subnet";
import { RouteTable } from "@cdktf/provider-aws/lib/route-table";
import { RouteTableAssociation } from "@cdktf/provider-aws/lib/route-table-association";
import { Route } from "@cdktf/provider-aws/lib/route";
import { DefaultSecurityGroup } from "@cdktf/provider-aws/lib/default-security-group";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group";
import { VpcSecurityGroupIngressRule } from "@cdktf/provider-aws/lib/vpc-security-group-ingress-rule";
import { VpcSecurityGroupEgressRule } from "@cdktf/provider-aws/lib/vpc-security-group-egress-rule";
import { VpcEndpoint } from "@cdktf/provider-aws/lib/vpc-endpoint";
import { FlowLog } from "@cdktf/provider-aws/lib/flow-log";
import { InternetGateway } from "@cdktf/provider-aws/lib/internet-gateway";
import { Eip } from "@cdktf/provider-aws/lib/eip";
import { NatGateway } from "@cdktf/provider-aws/lib/nat-gateway";
import type { CustomerManagedKey } from "./customer-managed-key";
import { EncryptedLogGroup } from "./encrypted-log-group";
import { ConfigError } from "./errors";
import { ServiceRole } from "./service-role";
import { assertName } from "./validate";

/**
 * Interface endpoints the task needs (service name suffixes). `email` is the SES API. No
 * `monitoring`: the sender's metrics are EMF lines in its log stream, it never calls the
 * CloudWatch API (and the task role may not).
 */
export const INTERFACE_ENDPOINTS = ["ssm", "email", "logs", "ecr.api", "ecr.dkr"] as const;
/** Gateway endpoints the task needs: s3 (ECR image layers) and dynamodb (the delivery ledger). */
export const GATEWAY_ENDPOINTS = ["s3", "dynamodb"] as const;

/** Props for {@link Network}. */
export interface NetworkProps {
  readonly namePrefix: string;
  readonly region: string;
  /** Two availability zones of the region. */
  readonly availabilityZones: readonly [string, string];
  /** The VPC's IPv4 range (/16 to /24). @default "10.42.0.0/16" */
  readonly cidr?: string;
  /** CMK for the flow-log group. */
  readonly key: CustomerManagedKey;
  /**
   * Adds an internet gateway, a public subnet in the first AZ with a NAT gateway, a default
   * route through it and HTTPS (443) egress to any address from the task: how a real
   * stage's feeds (and SendGrid, while the stage uses it) are reached. Give the VPC a
   * {@link DnsFirewall} with it: the security group cannot name hosts, the firewall limits
   * what the task can resolve to the stage's allow-list.
   * @default false
   */
  readonly allowInternetEgress?: boolean;
  /**
   * How many of the two AZs get the interface endpoints (1: the first only; the task in the
   * other AZ reaches them across AZs). Each endpoint costs per AZ-hour.
   * @default 2
   */
  readonly endpointAzs?: 1 | 2;
  /** Permissions boundary of the flow-log role (a real stage's workload boundary). @default - none */
  readonly permissionsBoundaryArn?: string;
}

/** Typed attributes of a {@link Network}. */
export interface NetworkOutputs {
  readonly vpcId: string;
  readonly privateSubnetIds: string[];
  /** The security group the task runs with. */
  readonly taskSecurityGroupId: string;
}

/** The digest's private VPC with AWS endpoints. */
export class Network extends Construct {
  readonly vpc: Vpc;
  readonly privateSubnets: Subnet[];
  readonly taskSecurityGroup: SecurityGroup;
  readonly endpointSecurityGroup: SecurityGroup;
  readonly endpoints: Record<string, VpcEndpoint> = {};
  /** The NAT gateway, with `allowInternetEgress`. */
  readonly natGateway?: NatGateway;
  readonly outputs: NetworkOutputs;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    assertName(this, "namePrefix", props.namePrefix);
    const cidr = props.cidr ?? "10.42.0.0/16";
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) < 16 || Number(m[5]) > 24) {
      throw new ConfigError("NETWORK_INVALID", this.node.path, "cidr", "an IPv4 CIDR from /16 to /24");
    }
    const [azA, azB] = props.availabilityZones;
    if (!azA || !azB || azA === azB || !azA.startsWith(props.region) || !azB.startsWith(props.region)) {
      throw new ConfigError("NETWORK_INVALID", this.node.path, "availabilityZones", "two different AZs of the region");
    }
    const endpointAzs = props.endpointAzs ?? 2;
    if (endpointAzs !== 1 && endpointAzs !== 2) throw new ConfigError("NETWORK_INVALID", this.node.path, "endpointAzs", "1 or 2");
    const name = (suffix: string): { tags: Record<string, string> } => ({ tags: { Name: `${props.namePrefix}-${suffix}` } });

    this.vpc = new Vpc(this, "vpc", { cidrBlock: cidr, enableDnsSupport: true, enableDnsHostnames: true, ...name("vpc") });
    // The default security group admits traffic among its members: empty it so nothing
    // that forgets a security group gets that.
    new DefaultSecurityGroup(this, "default-sg", { vpcId: this.vpc.id, ingress: [], egress: [], ...name("default-locked") });

    this.privateSubnets = props.availabilityZones.map(
      (az, i) =>
        new Subnet(this, `private-${i}`, {
          vpcId: this.vpc.id,
          availabilityZone: az,
          cidrBlock: Fn.cidrsubnet(cidr, 4, i),
          mapPublicIpOnLaunch: false,
          ...name(`private-${az}`),
        }),
    );
    const privateRoutes = new RouteTable(this, "private-routes", { vpcId: this.vpc.id, ...name("private") });
    this.privateSubnets.forEach((s, i) => new RouteTableAssociation(this, `private-${i}-routes`, { subnetId: s.id, routeTableId: privateRoutes.id }));

    this.taskSecurityGroup = new SecurityGroup(this, "task-sg", {
      vpcId: this.vpc.id,
      name: `${props.namePrefix}-task`,
      description: props.allowInternetEgress ? "digest task: HTTPS out only (the DNS firewall limits the names)" : "digest task: HTTPS out to the VPC endpoints only",
      ...name("task"),
    });
    this.endpointSecurityGroup = new SecurityGroup(this, "endpoint-sg", {
      vpcId: this.vpc.id,
      name: `${props.namePrefix}-endpoints`,
      description: "VPC interface endpoints: HTTPS in from the digest task only",
      ...name("endpoints"),
    });
    // The rules below carry no description: moto drops descriptions of rules it creates
    // from a security-group or prefix-list reference, so `local` would never converge.
    // Their construct ids (and so their Terraform addresses) say what each rule is for.
    new VpcSecurityGroupIngressRule(this, "endpoint-in-443-from-task", {
      securityGroupId: this.endpointSecurityGroup.id,
      referencedSecurityGroupId: this.taskSecurityGroup.id,
      ipProtocol: "tcp", fromPort: 443, toPort: 443,
    });
    new VpcSecurityGroupEgressRule(this, "task-out-443-to-endpoints", {
      securityGroupId: this.taskSecurityGroup.id,
      referencedSecurityGroupId: this.endpointSecurityGroup.id,
      ipProtocol: "tcp", fromPort: 443, toPort: 443,
    });

    for (const service of INTERFACE_ENDPOINTS) {
      this.endpoints[service] = new VpcEndpoint(this, `endpoint-${service.replace(".", "-")}`, {
        vpcId: this.vpc.id,
        serviceName: `com.amazonaws.${props.region}.${service}`,
        vpcEndpointType: "Interface",
        privateDnsEnabled: true,
        subnetIds: this.privateSubnets.slice(0, endpointAzs).map((s) => s.id),
        securityGroupIds: [this.endpointSecurityGroup.id],
        ...name(`endpoint-${service}`),
      });
    }
    // Gateway endpoints: s3 because ECR keeps image layers there, dynamodb for the delivery
    // ledger. Each gets a route in the private table and task egress to its prefix list.
    for (const service of GATEWAY_ENDPOINTS) {
      const endpoint = new VpcEndpoint(this, `endpoint-${service}`, {
        vpcId: this.vpc.id,
        serviceName: `com.amazonaws.${props.region}.${service}`,
        vpcEndpointType: "Gateway",
        routeTableIds: [privateRoutes.id],
        ...name(`endpoint-${service}`),
      });
      this.endpoints[service] = endpoint;
      new VpcSecurityGroupEgressRule(this, `task-out-443-to-${service}`, {
        securityGroupId: this.taskSecurityGroup.id,
        prefixListId: endpoint.prefixListId,
        ipProtocol: "tcp", fromPort: 443, toPort: 443,
      });
    }

    const flowLogs = new EncryptedLogGroup(this, "flow-logs", {
      logGroupName: `/${props.namePrefix}/vpc-flow-logs`,
      key: props.key,
      region: props.region,
    });
    const flowLogRole = new ServiceRole(this, "flow-log-role", {
      roleName: `${props.namePrefix}-flow-logs`,
      assumedBy: "vpc-flow-logs.amazonaws.com",
      trustConditions: [{ test: "StringEquals", variable: "aws:SourceAccount", values: [props.key.account] }],
      policyName: "write-flow-logs",
      permissionsBoundaryArn: props.permissionsBoundaryArn,
    });
    flowLogs.grantWrite(flowLogRole, "WriteFlowLogs");
    new FlowLog(this, "flow-log", {
      vpcId: this.vpc.id,
      trafficType: "ALL",
      logDestinationType: "cloud-watch-logs",
      logDestination: flowLogs.logGroup.arn,
      iamRoleArn: flowLogRole.role.arn,
      maxAggregationInterval: 60,
      ...name("flow-log"),
    });

    if (props.allowInternetEgress) {
      const igw = new InternetGateway(this, "igw", { vpcId: this.vpc.id, ...name("igw") });
      const publicSubnet = new Subnet(this, "public-0", {
        vpcId: this.vpc.id,
        availabilityZone: azA,
        cidrBlock: Fn.cidrsubnet(cidr, 4, 15),
        mapPublicIpOnLaunch: false,
        ...name(`public-${azA}`),
      });
      const publicRoutes = new RouteTable(this, "public-routes", { vpcId: this.vpc.id, ...name("public") });
      new Route(this, "public-default-route", { routeTableId: publicRoutes.id, destinationCidrBlock: "0.0.0.0/0", gatewayId: igw.id });
      new RouteTableAssociation(this, "public-0-routes", { subnetId: publicSubnet.id, routeTableId: publicRoutes.id });
      const eip = new Eip(this, "nat-eip", { domain: "vpc", ...name("nat") });
      const nat = new NatGateway(this, "nat", { allocationId: eip.id, subnetId: publicSubnet.id, ...name("nat"), dependsOn: [igw] });
      this.natGateway = nat;
      new Route(this, "private-default-route", { routeTableId: privateRoutes.id, destinationCidrBlock: "0.0.0.0/0", natGatewayId: nat.id });
      new VpcSecurityGroupEgressRule(this, "task-out-443-to-internet", {
        securityGroupId: this.taskSecurityGroup.id,
        cidrIpv4: "0.0.0.0/0",
        ipProtocol: "tcp", fromPort: 443, toPort: 443,
        description: "allowInternetEgress: HTTPS to the feed hosts (the DNS firewall resolves only the allow-list)",
      });
    }

    this.outputs = {
      vpcId: this.vpc.id,
      privateSubnetIds: this.privateSubnets.map((s) => s.id),
      taskSecurityGroupId: this.taskSecurityGroup.id,
    };
  }

  get resource(): Vpc {
    return this.vpc;
  }
}
