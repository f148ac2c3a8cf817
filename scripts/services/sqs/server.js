// Starts local-aws-sqs (an SQS-compatible server speaking both the JSON and
// the Query protocol) for PLBA's tests. Started by ../sqs.sh; listens on
// 127.0.0.1 only.
"use strict";
const { createSqsServer } = require("local-aws-sqs");

const host = process.env.PLBA_SQS_HOST || "127.0.0.1";
const port = Number(process.env.PLBA_SQS_PORT || 19324);

createSqsServer({
  port,
  hostname: host,
  // Tests create uniquely named queues and delete them; AWS's 60 s wait
  // before a deleted name can be reused only slows reruns down.
  emulateQueueCreationLifecycle: false,
})
  .then((server) => {
    console.log(`local-aws-sqs listening on http://${host}:${port}`);
    const stop = () => server.close(() => process.exit(0));
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  })
  .catch((err) => {
    console.error("local-aws-sqs failed to start:", err);
    process.exit(1);
  });
