import { GATEWAY_ENDPOINTS, INTERFACE_ENDPOINTS, Network, type NetworkProps } from "../../modules/network";
import { synthWith, thrownBy, type Fixture } from "../support/construct-fixtures";
import { onlyResource, ref, resources, statementBySid, statementsOf, type TfJson } from "../support/tf-json";

function build(f: Fixture, props: Partial<NetworkProps> = {}): void {
  new Network(f.stack, "network", { namePrefix: "vd", region: "us-east-1", availabilityZones: ["us-east-1a", "us-east-1b"], key: f.key, ...props });
}
const synth = (props: Partial<NetworkProps> = {}): TfJson => synthWith((f) => build(f, props));

describe("Network", () => {
  const json = synth();
  const vpc = onlyResource(json, "aws_vpc");
  const sg = (name: string) => resources(json, "aws_security_group").find((s) => s.props.name === name)!;

  test("when synthesized, the VPC resolves private DNS", () => {
    expect(vpc.props).toMatchObject({ cidr_block: "10.42.0.0/16", enable_dns_support: true, enable_dns_hostnames: true });
  });

  test("when synthesized, there are two private subnets in two AZs that assign no public IPs", () => {
    const subnets = resources(json, "aws_subnet");
    expect(subnets.map((s) => s.props.availability_zone)).toEqual(["us-east-1a", "us-east-1b"]);
    for (const s of subnets) expect(s.props.map_public_ip_on_launch).toBe(false);
  });

  test("by default, there is no internet gateway, NAT gateway or route to the internet", () => {
    expect(resources(json, "aws_internet_gateway")).toHaveLength(0);
    expect(resources(json, "aws_nat_gateway")).toHaveLength(0);
    expect(resources(json, "aws_route")).toHaveLength(0);
  });

  test("when synthesized, the default security group is managed with no rules", () => {
    expect(onlyResource(json, "aws_default_security_group").props).toMatchObject({ vpc_id: ref(vpc, "id"), ingress: [], egress: [] });
  });

  test.each(INTERFACE_ENDPOINTS)("when synthesized, the %s interface endpoint has private DNS in both subnets behind the endpoint group", (svc) => {
    const ep = resources(json, "aws_vpc_endpoint").find((e) => e.props.service_name === `com.amazonaws.us-east-1.${svc}`)!;
    expect(ep.props).toMatchObject({ vpc_endpoint_type: "Interface", private_dns_enabled: true });
    expect(ep.props.subnet_ids).toHaveLength(2);
    expect(ep.props.security_group_ids).toEqual([ref(sg("vd-endpoints"), "id")]);
  });

  test.each(GATEWAY_ENDPOINTS)("when synthesized, %s is a gateway endpoint on the private route table that the task may reach", (svc) => {
    const endpoints = resources(json, "aws_vpc_endpoint");
    const ep = endpoints.find((e) => e.props.service_name === `com.amazonaws.us-east-1.${svc}`)!;
    expect(ep.props.vpc_endpoint_type).toBe("Gateway");
    expect(ep.props.route_table_ids).toEqual([ref(onlyResource(json, "aws_route_table"), "id")]);
    const egress = resources(json, "aws_vpc_security_group_egress_rule").map((r) => r.props);
    expect(egress).toContainEqual(
      expect.objectContaining({ security_group_id: ref(sg("vd-task"), "id"), prefix_list_id: ref(ep, "prefix_list_id"), from_port: 443, to_port: 443 }),
    );
  });

  test("when synthesized, the endpoints admit 443 only from the task's security group", () => {
    const ingress = resources(json, "aws_vpc_security_group_ingress_rule");
    expect(ingress.map((r) => r.props)).toEqual([
      expect.objectContaining({ security_group_id: ref(sg("vd-endpoints"), "id"), referenced_security_group_id: ref(sg("vd-task"), "id"), ip_protocol: "tcp", from_port: 443, to_port: 443 }),
    ]);
  });

  test("by default, the task may send HTTPS only to the endpoints and to the S3 and DynamoDB prefix lists", () => {
    const egress = resources(json, "aws_vpc_security_group_egress_rule").map((r) => r.props);
    expect(egress).toHaveLength(3);
    for (const e of egress) expect(e).toMatchObject({ security_group_id: ref(sg("vd-task"), "id"), from_port: 443, to_port: 443 });
    expect(egress.some((e) => e.cidr_ipv4)).toBe(false);
  });

  test("when synthesized, flow logs of all traffic go to an encrypted log group through a scoped role", () => {
    const log = onlyResource(json, "aws_cloudwatch_log_group");
    expect(onlyResource(json, "aws_flow_log").props).toMatchObject({ vpc_id: ref(vpc, "id"), traffic_type: "ALL", log_destination: ref(log, "arn") });
    expect(log.props.kms_key_id).toBe(ref(onlyResource(json, "aws_kms_key"), "arn"));
    const st = statementsOf(json, onlyResource(json, "aws_iam_role_policy").props.policy);
    expect(statementBySid(st, "WriteFlowLogs").resources![0]).toMatch(/:log-group:\/vd\/vpc-flow-logs$/);
  });

  test("when no endpoint AZ count is given, every interface endpoint is in both AZs; with 1, in the first AZ's subnet only", () => {
    const subnets = resources(json, "aws_subnet");
    for (const e of resources(json, "aws_vpc_endpoint").filter((x) => x.props.vpc_endpoint_type === "Interface")) expect(e.props.subnet_ids).toEqual(subnets.map((x) => ref(x, "id")));
    const one = synth({ endpointAzs: 1 });
    const first = resources(one, "aws_subnet").find((x) => x.props.availability_zone === "us-east-1a")!;
    const interfaces = resources(one, "aws_vpc_endpoint").filter((x) => x.props.vpc_endpoint_type === "Interface");
    expect(interfaces).toHaveLength(INTERFACE_ENDPOINTS.length);
    for (const e of interfaces) expect(e.props.subnet_ids).toEqual([ref(first, "id")]);
  });

  test("when synthesized, there is no CloudWatch API (monitoring) endpoint: the sender's metrics are EMF log lines", () => {
    expect(resources(json, "aws_vpc_endpoint").map((e) => e.props.service_name)).not.toContain("com.amazonaws.us-east-1.monitoring");
  });

  test("when a permissions boundary is given, the flow-log role carries it", () => {
    const b = "arn:aws:iam::111111111111:policy/vd-workload-boundary";
    expect(onlyResource(synth({ permissionsBoundaryArn: b }), "aws_iam_role").props.permissions_boundary).toBe(b);
  });

  describe("with allowInternetEgress", () => {
    const open = synth({ allowInternetEgress: true });

    test("when opted in, the one NAT gateway sits in a public subnet of the first AZ whose only route goes to the internet gateway", () => {
      const nat = onlyResource(open, "aws_nat_gateway");
      const publicSubnet = resources(open, "aws_subnet").find((x) => nat.props.subnet_id === ref(x, "id"))!;
      expect(publicSubnet.props).toMatchObject({ availability_zone: "us-east-1a", map_public_ip_on_launch: false });
      const igw = onlyResource(open, "aws_internet_gateway");
      expect(resources(open, "aws_route").filter((r) => r.props.gateway_id).map((r) => r.props)).toEqual([expect.objectContaining({ destination_cidr_block: "0.0.0.0/0", gateway_id: ref(igw, "id") })]);
    });

    test("when opted in, a NAT gateway in a public subnet carries the private default route", () => {
      const nat = onlyResource(open, "aws_nat_gateway");
      const privateRoute = resources(open, "aws_route").find((r) => r.props.nat_gateway_id)!;
      expect(privateRoute.props).toMatchObject({ destination_cidr_block: "0.0.0.0/0", nat_gateway_id: ref(nat, "id") });
      expect(onlyResource(open, "aws_internet_gateway")).toBeDefined();
    });

    test("when opted in, the task gets exactly one HTTPS rule to anywhere, named for the opt-in", () => {
      const wide = resources(open, "aws_vpc_security_group_egress_rule").filter((r) => r.props.cidr_ipv4 === "0.0.0.0/0");
      expect(wide).toHaveLength(1);
      expect(wide[0]!.props).toMatchObject({ from_port: 443, to_port: 443, description: expect.stringMatching(/^allowInternetEgress:/) });
    });
  });

  test.each([
    ["a /8 range", { cidr: "10.0.0.0/8" }],
    ["not a CIDR", { cidr: "10.42.0.0" }],
    ["one AZ twice", { availabilityZones: ["us-east-1a", "us-east-1a"] as [string, string] }],
    ["an AZ of another region", { availabilityZones: ["us-east-1a", "eu-west-1b"] as [string, string] }],
    ["three endpoint AZs", { endpointAzs: 3 as 1 }],
  ] as [string, Partial<NetworkProps>][])("when given %s, it throws NETWORK_INVALID", (_what, props) => {
    expect(thrownBy((f) => build(f, props as Partial<NetworkProps>)).code).toBe("NETWORK_INVALID");
  });
});
