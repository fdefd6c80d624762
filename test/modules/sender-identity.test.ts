import { Testing } from "cdktf";
import type { Construct } from "constructs";
import { ConfigError } from "../../modules/errors";
import { SenderIdentity } from "../../modules/sender-identity";
import { TaskRole } from "../../modules/task-role";
import { onlyResource, ref, statementBySid, statementsOf, type TfJson } from "../support/tf-json";

function synth(fromAddress: string): TfJson {
  return JSON.parse(
    Testing.synthScope((scope: Construct) => {
      const sender = new SenderIdentity(scope, "sender", { fromAddress });
      sender.grantSend(new TaskRole(scope, "role", { roleName: "t-task" }));
    }),
  ) as TfJson;
}

describe("SenderIdentity", () => {
  const json = synth("digest@vibedigest.example.com");
  const identity = onlyResource(json, "aws_ses_email_identity");

  test("when synthesized, it declares an SES email identity for the from address", () => {
    expect(identity.props.email).toBe("digest@vibedigest.example.com");
  });

  test("when granted, it allows only SendEmail and SendRawEmail on the identity", () => {
    const s = statementBySid(statementsOf(json, onlyResource(json, "aws_iam_role_policy").props.policy), "SendDigestEmail");
    expect(s.effect).toBe("Allow");
    expect(s.actions).toEqual(["ses:SendEmail", "ses:SendRawEmail"]);
    expect(s.resources).toEqual([ref(identity, "arn")]);
  });

  test("when granted, it pins ses:FromAddress to the from address", () => {
    const s = statementBySid(statementsOf(json, onlyResource(json, "aws_iam_role_policy").props.policy), "SendDigestEmail");
    expect(s.condition).toEqual([{ test: "StringEquals", variable: "ses:FromAddress", values: ["digest@vibedigest.example.com"] }]);
  });

  test.each(["", "digest", "digest@", "@example.com", "a b@example.com", "digest@example"])(
    "when the from address is %p, it throws EMAIL_ADDRESS_INVALID",
    (bad) => {
      expect(() => synth(bad)).toThrow(expect.objectContaining({ name: "ConfigError", code: "EMAIL_ADDRESS_INVALID" }) as unknown as ConfigError);
    },
  );
});
