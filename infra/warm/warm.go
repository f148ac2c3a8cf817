package main

import (
	_ "github.com/aws/aws-cdk-go/awscdk/v2"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	_ "github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	_ "github.com/aws/constructs-go/constructs/v10"
	_ "github.com/aws/jsii-runtime-go"
	_ "gopkg.in/yaml.v3"
)

func main() {}
