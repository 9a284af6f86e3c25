"""What the launcher tests share: a run configuration, moto's stand-in for a deployment, stubbed clients."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from stream_rerun.launch.ecs import Fleet
from stream_rerun.launch.follow import Follower

REGION = "eu-west-1"
CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/stream-rerun-prod"
TASK_ARN = "arn:aws:ecs:eu-west-1:123456789012:task/stream-rerun-prod/0123456789abcdef"


def run_config(cluster: str = CLUSTER) -> dict[str, Any]:
    return {
        "cluster": cluster, "task_definition": "stream-rerun-prod", "container_name": "worker",
        "subnets": ["subnet-1"], "security_groups": ["sg-1"], "assign_public_ip": False,
        "log_group": "/ecs/stream-rerun-prod", "log_stream_prefix": "rerun", "region": REGION,
        "runbook": "stream-rerun-prod-run", "worker_defaults": {"TABLE_NAME": "orders", "GSI_NAME": "by_date"},
    }  # fmt: skip


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


def deploy(aws: dict[str, Any], parameter: str = "/stream-rerun/prod/run-task-config") -> dict[str, Any]:
    """What Terraform would create, in moto: cluster, task definition, the SSM run configuration."""
    cluster = aws["ecs"].create_cluster(clusterName="stream-rerun-prod")["cluster"]["clusterArn"]
    worker = {"name": "worker", "image": "worker:1", "essential": True, "memory": 1024}
    aws["ecs"].register_task_definition(
        family="stream-rerun-prod", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="512",
        memory="1024", containerDefinitions=[worker],
    )  # fmt: skip
    vpc = aws["ec2"].create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    aws["ec2"].modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's ENI needs it
    subnet = aws["ec2"].create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    config = {**run_config(cluster), "subnets": [subnet]}
    aws["ssm"].put_parameter(Name=parameter, Value=json.dumps(config), Type="String")
    return config


def follower(ecs: Any, logs: Any, lines: list[str] | None = None, **options: Any) -> Follower:
    """A Follower on stubbed clients that never sleeps and collects what it prints in `lines`."""
    out = lines if lines is not None else []
    defaults: dict[str, Any] = {"timeout": 3600.0, "poll": 0.0, "sleep": lambda _s: None}
    return Follower(Fleet(ecs, run_config()), logs, **{**defaults, **options}, out=out.append)


def stream_consumers(aws: dict[str, Any], mappings: dict[str, bool], table: str = "orders") -> str:
    """The table (with a stream) and a Lambda function per `mappings` entry (name: enabled) whose event source mapping
    reads its stream, in moto (which holds mappings on its own tables' streams); returns the stream's ARN."""
    aws["dynamodb"].create_table(
        TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )  # fmt: skip
    stream = str(aws["dynamodb"].describe_table(TableName=table)["Table"]["LatestStreamArn"])
    role = aws["iam"].create_role(RoleName=f"{table}-consumer", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return None\n")
    for name, enabled in mappings.items():
        aws["lambda"].create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="handler.handle",
                                      Code={"ZipFile": code.getvalue()})  # fmt: skip
        aws["lambda"].create_event_source_mapping(EventSourceArn=stream, FunctionName=name, Enabled=enabled,
                                                  StartingPosition="LATEST", BatchSize=50)  # fmt: skip
    return stream


def no_kinesis_destinations(dynamodb: Any) -> None:
    """A stand-in for DynamoDB's DescribeKinesisStreamingDestination, which moto 5 does not implement (in process it
    raises NotImplementedError): answers that the table streams to no Kinesis data stream, the shape AWS documents
    (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeKinesisStreamingDestination.html).
    It models no destination at all."""

    def answer(params: dict[str, Any], **_: Any) -> Any:
        destinations = {"TableName": params.get("TableName"), "KinesisDataStreamDestinations": []}
        return AWSResponse("", 200, {}, None), destinations

    dynamodb.meta.events.register("before-call.dynamodb.DescribeKinesisStreamingDestination", answer)
