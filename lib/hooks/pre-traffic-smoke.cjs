/* eslint-disable @typescript-eslint/no-require-imports */
/* global require, exports, process, Buffer, console */
// CodeDeploy BeforeAllowTraffic hook (inline Lambda code, CommonJS, AWS SDK v3 of the
// nodejs22.x runtime). Invokes the version about to receive traffic with a smoke event
// and reports the result: a version that cannot start (image, native addons, config) or
// that answers anything but an empty partial-batch response never gets traffic.
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');
const {
  CodeDeployClient,
  PutLifecycleEventHookExecutionStatusCommand,
} = require('@aws-sdk/client-codedeploy');

const lambda = new LambdaClient({});
const codedeploy = new CodeDeployClient({});

exports.handler = async (event) => {
  const target = process.env.TARGET_VERSION_ARN;
  let status = 'Failed';
  try {
    const res = await lambda.send(
      new InvokeCommand({
        FunctionName: target,
        Payload: Buffer.from(process.env.SMOKE_EVENT || '{"Records":[]}'),
      }),
    );
    const text = res.Payload ? Buffer.from(res.Payload).toString('utf8') : '';
    if (res.FunctionError) {
      console.error(
        JSON.stringify({
          message: 'smoke invocation failed',
          target,
          error: res.FunctionError,
          text,
        }),
      );
    } else {
      const body = text ? JSON.parse(text) : undefined;
      const failures =
        body && Array.isArray(body.batchItemFailures) ? body.batchItemFailures : undefined;
      if (failures && failures.length === 0) {
        status = 'Succeeded';
      } else {
        console.error(JSON.stringify({ message: 'unexpected smoke response', target, text }));
      }
    }
  } catch (err) {
    console.error(
      JSON.stringify({ message: 'smoke invocation threw', target, error: String(err) }),
    );
  }
  console.log(JSON.stringify({ message: 'pre-traffic smoke test', target, status }));
  await codedeploy.send(
    new PutLifecycleEventHookExecutionStatusCommand({
      deploymentId: event.DeploymentId,
      lifecycleEventHookExecutionId: event.LifecycleEventHookExecutionId,
      status,
    }),
  );
  return { status };
};
