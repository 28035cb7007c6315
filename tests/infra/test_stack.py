"""CDK assertions over one shared synth: what is deployed is what is rehearsed, and it is locked down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from drsctl.local.tables import TABLE_NAMES
from drsctl.local.tables import TABLES as LOCAL_TABLES
from stacks.functions import FUNCTIONS, load_functions
from stacks.monitoring import FAILED_EXPRESSION, RECONCILED_STATUSES
from stacks.tables import TABLES
from stacks.workflow import DEFINITION, SUBSTITUTIONS, VENDED_LOGS_PREFIX
from tests.infra.conftest import ROOT, of_type


def deployed_definition(resources: dict[str, Any]) -> str:
    """The state machine's DefinitionString; its ${...} placeholders are resolved by DefinitionSubstitutions."""
    machine = next(iter(of_type(resources, "AWS::StepFunctions::StateMachine").values()))
    definition: str = machine["Properties"]["DefinitionString"]
    return definition


def one(resources: dict[str, Any], kind: str, prefix: str) -> tuple[str, dict[str, Any]]:
    """The one resource of a type whose logical ID starts with prefix: (logical ID, Properties)."""
    found = [(name, r["Properties"]) for name, r in of_type(resources, kind).items() if name.startswith(prefix)]
    assert len(found) == 1, f"{kind} {prefix}*: {[name for name, _ in found]}"
    return found[0]


def function_logical_id(resources: dict[str, Any], key: str) -> str:
    handler = FUNCTIONS[key].handler
    return next(
        name for name, f in of_type(resources, "AWS::Lambda::Function").items() if f["Properties"]["Handler"] == handler
    )


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Task state of a definition, inside Map and Parallel states too."""
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        for branch in [state.get("ItemProcessor") or state.get("Iterator"), *state.get("Branches", [])]:
            if branch:
                yield from tasks(branch["States"])


# -- the workflow and its functions -------------------------------------------------------------------------------


def test_substitutions_point_each_placeholder_at_its_function(resources):
    machine = next(iter(of_type(resources, "AWS::StepFunctions::StateMachine").values()))
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert set(substitutions) == set(SUBSTITUTIONS)
    for placeholder, key in SUBSTITUTIONS.items():
        assert substitutions[placeholder] == {"Fn::GetAtt": [function_logical_id(resources, key), "Arn"]}


def test_the_deployed_definition_is_the_asl_file_byte_for_byte(resources):
    assert deployed_definition(resources) == DEFINITION.read_text()


def test_functions_are_the_ones_of_functions_json_with_its_handler_memory_and_timeout(resources):
    functions = of_type(resources, "AWS::Lambda::Function")
    assert len(functions) == len(FUNCTIONS) == 14
    assert load_functions(ROOT / "lambdas" / "functions.json") == FUNCTIONS
    assert FUNCTIONS["sweep"].handler == "lambdas.handlers.sweep.handler"
    assert FUNCTIONS["lock_servers"].placeholder == "LockServersFunctionArn"
    assert FUNCTIONS["check_health"].placeholder == "HealthFunctionArn"
    code = {json.dumps(f["Properties"]["Code"], sort_keys=True) for f in functions.values()}
    assert len(code) == 1, "every function runs the one bundled asset"
    for key, spec in FUNCTIONS.items():
        properties = functions[function_logical_id(resources, key)]["Properties"]
        assert properties["Timeout"] == spec.timeout_seconds
        assert properties["MemorySize"] == spec.memory_mb
        assert properties["Description"] == spec.description
        assert properties["Architectures"] == ["arm64"]
        assert properties["Runtime"] == "python3.13"  # the runtime stacks/bundling.py builds the wheels for
        assert "Layers" not in properties  # dependencies are bundled, not taken from a public layer
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert {"EXECUTION_HISTORY_TABLE", "EXECUTION_WAVES_TABLE", "EXECUTION_LOCKS_TABLE"} <= set(
            properties["Environment"]["Variables"]
        )


def test_each_task_waits_longer_than_its_function_may_run(resources):
    definition = json.loads(deployed_definition(resources))
    seen = set()
    for name, task in tasks(definition["States"]):
        if "TimeoutSecondsPath" in task:  # waits for the plan's hooks or approvers: the step's own timeout
            continue
        placeholder = task["Parameters"]["FunctionName"].removeprefix("${").removesuffix("}")
        key = SUBSTITUTIONS[placeholder]
        seen.add(key)
        assert task["TimeoutSeconds"] > FUNCTIONS[key].timeout_seconds, name
    assert seen == set(SUBSTITUTIONS.values()) - {"request_approval"}


def test_state_machine_is_standard_named_with_vended_logs_tracing_and_a_timeout(resources):
    machine = next(iter(of_type(resources, "AWS::StepFunctions::StateMachine").values()))["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["StateMachineName"] == "DrsOrchestrator-RecoveryPlan"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    # without execution data by default: an approval's task token is in a state's input (test_approval_url.py)
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert json.loads(deployed_definition(resources))["TimeoutSeconds"] == 48 * 3600
    destination = machine["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    log_group = of_type(resources, "AWS::Logs::LogGroup")[destination["Fn::GetAtt"][0]]["Properties"]
    assert VENDED_LOGS_PREFIX == "/aws/vendedlogs/states/"
    assert log_group["LogGroupName"] == "/aws/vendedlogs/states/DrsOrchestrator-RecoveryPlan"


# -- records -------------------------------------------------------------------------------------------------------


def test_tables_have_pitr_encryption_on_demand_retain_and_stable_ids(resources):
    tables = of_type(resources, "AWS::DynamoDB::GlobalTable")
    # Pinned: a changed logical ID makes CloudFormation replace the table, and the records with it.
    assert set(tables) == {
        "RecordsExecutionHistory6B1F4F09",
        "RecordsExecutionLocks088E49F2",
        "RecordsExecutionWaves45D30E7E",
        "RecordsPlanReadiness57B2A31C",
        "RecordsProtectionGroups5199BF87",
        "RecordsRecoveryPlansC4133573",
    }
    for table in tables.values():
        assert table["DeletionPolicy"] == "Retain"
        replica = table["Properties"]["Replicas"][0]
        assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True


def test_table_keys_and_indexes_mirror_the_rehearsals_tables_exactly(resources):
    """drsctl/local/tables.py creates the tables the rehearsal and the tests run on: the stack deploys the same."""
    deployed = {
        next(name for name in TABLES if logical.startswith(f"Records{name}")): table["Properties"]
        for logical, table in of_type(resources, "AWS::DynamoDB::GlobalTable").items()
    }
    for variable, local in LOCAL_TABLES.items():
        table = deployed[TABLE_NAMES[variable]]
        assert table["KeySchema"] == local["KeySchema"], variable
        key = "AttributeName"
        assert sorted(table["AttributeDefinitions"], key=lambda a: a[key]) == sorted(
            local["AttributeDefinitions"], key=lambda a: a[key]
        )
        indexes = {
            index["IndexName"]: (index["KeySchema"], index["Projection"])
            for index in table.get("GlobalSecondaryIndexes", [])
        }
        assert indexes == {
            index["IndexName"]: (index["KeySchema"], index["Projection"])
            for index in local.get("GlobalSecondaryIndexes", [])
        }, variable
    history = deployed["ExecutionHistory"]["GlobalSecondaryIndexes"]
    assert [i["IndexName"] for i in history] == ["PlanExecutionsByTime", "OpenExecutions"]
    open_index = history[1]
    assert open_index["KeySchema"] == [
        {"AttributeName": "Open", "KeyType": "HASH"},
        {"AttributeName": "StartTime", "KeyType": "RANGE"},
    ]
    assert open_index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert deployed["ExecutionLocks"]["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "LocksByExecution",
            "KeySchema": [{"AttributeName": "ExecutionId", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]


def test_no_iam_statement_allows_every_action(resources):
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "*" not in actions
            assert not any(action.endswith(":*") for action in actions)


# -- reconcile, the sweeper and their dead-letter queues ------------------------------------------------------------


def _dead_letter_queue(resources: dict[str, Any], prefix: str) -> str:
    """Checks the queue (SSE-SQS, TLS only, 14 days) and its alarm; returns its logical ID."""
    queue, properties = one(resources, "AWS::SQS::Queue", prefix)
    assert properties == {"MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": True}
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in of_type(resources, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    assert len(policies) == 1
    assert {
        "Action": "sqs:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": {"Fn::GetAtt": [queue, "Arn"]},
    } in policies[0]
    topic = next(iter(of_type(resources, "AWS::SNS::Topic")))
    alarms = [
        a["Properties"]
        for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions") == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    ]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Maximum",
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["AlarmActions"] == [{"Ref": topic}]
    return queue


def test_the_reconcile_rule_matches_exactly_the_statuses_step_functions_ends_on_its_own(resources):
    _, rule = one(resources, "AWS::Events::Rule", "MonitoringExecutionEndedByStepFunctions")
    assert rule["EventPattern"]["source"] == ["aws.states"]
    assert rule["EventPattern"]["detail-type"] == ["Step Functions Execution Status Change"]
    assert (
        sorted(rule["EventPattern"]["detail"]["status"])
        == sorted(RECONCILED_STATUSES)
        == ["ABORTED", "FAILED", "TIMED_OUT"]
    )
    reconcile = function_logical_id(resources, "reconcile")
    assert any(target["Arn"] == {"Fn::GetAtt": [reconcile, "Arn"]} for target in rule["Targets"])
    notification = next(target for target in rule["Targets"] if "InputTransformer" in target)
    assert "<detail-name>" in notification["InputTransformer"]["InputTemplate"]  # a sentence, not raw JSON


def test_reconcile_delivery_is_retried_for_a_day_then_dead_lettered(resources):
    rule_id, rule = one(resources, "AWS::Events::Rule", "MonitoringExecutionEndedByStepFunctions")
    queue = _dead_letter_queue(resources, "MonitoringReconcileDeadLetters")
    reconcile = function_logical_id(resources, "reconcile")
    target = next(t for t in rule["Targets"] if t["Arn"] == {"Fn::GetAtt": [reconcile, "Arn"]})
    # The EventBridge RetryPolicy maxima (and defaults): 86,400 s, 185 attempts.
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue, "Arn"]}}
    policy = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in of_type(resources, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": queue}]
    )
    sends = [s for s in policy if s["Effect"] == "Allow"]
    assert sends == [
        {
            "Action": "sqs:SendMessage",
            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}},
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Resource": {"Fn::GetAtt": [queue, "Arn"]},
            "Sid": sends[0]["Sid"],
        }
    ]


def test_reconcile_invocations_are_retried_twice_then_sent_to_the_same_queue(resources):
    queue = _dead_letter_queue(resources, "MonitoringReconcileDeadLetters")
    reconcile = function_logical_id(resources, "reconcile")
    configs = [
        c["Properties"]
        for c in of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": reconcile}
    ]
    assert len(configs) == 1
    config = configs[0]
    assert config["MaximumRetryAttempts"] == 2  # the Lambda maximum
    assert config["MaximumEventAgeInSeconds"] == 6 * 3600  # the Lambda maximum
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}}
    role = of_type(resources, "AWS::Lambda::Function")[reconcile]["Properties"]["Role"]["Fn::GetAtt"][0]
    sends = [
        statement
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sqs:SendMessage" in statement["Action"]
    ]
    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": [queue, "Arn"]}]


def test_the_sweeper_runs_every_15_minutes_with_the_scheduled_time_retries_and_a_dead_letter_queue(resources):
    _, schedule = one(resources, "AWS::Scheduler::Schedule", "MonitoringSweeperSchedule")
    queue = _dead_letter_queue(resources, "MonitoringSweeperDeadLetters")
    sweep = function_logical_id(resources, "sweep")
    assert schedule["ScheduleExpression"] == "rate(15 minutes)"
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [sweep, "Arn"]}
    assert json.loads(target["Input"]) == {"time": "<aws.scheduler.scheduled-time>"}  # the handler reads "time"
    # Within the Scheduler RetryPolicy maxima (86,400 s, 185): retried until the next run is due.
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 15 * 60, "MaximumRetryAttempts": 185}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue, "Arn"]}}
    role = target["RoleArn"]["Fn::GetAtt"][0]
    trust = of_type(resources, "AWS::IAM::Role")[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "scheduler.amazonaws.com"}]
    assert trust[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    statements = [
        statement
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    function_arn = {"Fn::GetAtt": [sweep, "Arn"]}
    assert statements == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [function_arn, {"Fn::Join": ["", [function_arn, ":*"]]}],
        },
        {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [queue, "Arn"]}},
    ]


# -- notifications and alarms --------------------------------------------------------------------------------------


def test_the_topic_uses_a_rotated_customer_managed_key_that_eventbridge_and_cloudwatch_may_use(resources):
    topic, properties = one(resources, "AWS::SNS::Topic", "MonitoringNotifications")
    key = properties["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key_resource = of_type(resources, "AWS::KMS::Key")[key]
    assert key_resource["Properties"]["EnableKeyRotation"] is True
    allowed: dict[str, set[str]] = {}
    for statement in key_resource["Properties"]["KeyPolicy"]["Statement"]:
        services = statement["Principal"].get("Service", [])
        for service in services if isinstance(services, list) else [services]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            allowed.setdefault(service, set()).update(actions)
    for service in ("events.amazonaws.com", "cloudwatch.amazonaws.com"):
        assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= allowed.get(service, set()), service
    policy = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in of_type(resources, "AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": topic}]
    )
    publishers = {
        s["Principal"]["Service"]: s
        for s in policy
        if s["Effect"] == "Allow" and s["Action"] == "sns:Publish" and "Service" in s["Principal"]
    }
    assert set(publishers) == {"events.amazonaws.com", "cloudwatch.amazonaws.com"}
    alarms = publishers["cloudwatch.amazonaws.com"]["Condition"]
    assert alarms["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source = alarms["ArnLike"]["aws:SourceArn"]["Fn::Join"][1]
    assert source[-1] == ":alarm:*" and ":cloudwatch:" in source  # alarm ARNs: arn:...:cloudwatch:r:a:alarm:name
    assert {"Bool": {"aws:SecureTransport": "false"}} in [s.get("Condition") for s in policy if s["Effect"] == "Deny"]


def test_the_failed_executions_alarm_counts_either_series_when_the_other_has_no_data(resources):
    _, alarm = one(resources, "AWS::CloudWatch::Alarm", "MonitoringExecutionsFailedOrTimedOut")
    expression = next(m for m in alarm["Metrics"] if "Expression" in m)
    assert expression["Expression"] == FAILED_EXPRESSION == "FILL(failed, 0) + FILL(timedOut, 0)"
    metrics = {m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert metrics == {"failed": "ExecutionsFailed", "timedOut": "ExecutionsTimedOut"}
    assert alarm["Threshold"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"


def test_finished_executions_are_notified_too(resources):
    _, finished = one(resources, "AWS::Events::Rule", "MonitoringExecutionFinished")
    assert finished["EventPattern"]["detail"]["status"] == ["SUCCEEDED"]
    assert [t["Arn"] for t in finished["Targets"]] == [{"Ref": next(iter(of_type(resources, "AWS::SNS::Topic")))}]


def test_alarms_topic_dashboard_and_outputs(template, resources):
    # failed executions, Errors and Throttles per function, one per dead-letter queue (reconcile, sweep, readiness
    # runs, reports), Readiness, DrillMissedRto
    assert len(of_type(resources, "AWS::CloudWatch::Alarm")) == 1 + 2 * len(FUNCTIONS) + 4 + 2
    assert len(of_type(resources, "AWS::CloudWatch::Dashboard")) == 1
    assert len(of_type(resources, "AWS::SNS::Topic")) == 1
    outputs = template.to_json()["Outputs"]
    assert {
        "StateMachineArn",
        "StateMachineConsoleUrl",
        "NotificationTopicArn",
        "ExecutionHistoryTable",
        "ReconcileDeadLetterQueueUrl",
        "SweepDeadLetterQueueUrl",
    } <= set(outputs)


def test_the_state_machine_may_invoke_only_hook_functions_named_with_the_prefix(resources):
    machine_roles = [
        properties["RoleArn"]["Fn::GetAtt"][0]
        for properties in (m["Properties"] for m in of_type(resources, "AWS::StepFunctions::StateMachine").values())
    ]
    statements = [
        statement
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": machine_roles[0]} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    invoked = json.dumps([s["Resource"] for s in statements if s["Action"] == "lambda:InvokeFunction"])
    assert ":function:drs-hook-*" in invoked and ":function:drs-hook-*:*" in invoked
    assert ":function:*" not in invoked  # never every function of the account


def test_the_approval_request_may_publish_to_the_topic_and_knows_it(resources):
    functions = of_type(resources, "AWS::Lambda::Function")
    approval = next(f for f in functions.values() if f["Properties"]["Handler"].endswith("request_approval.handler"))
    topic, _ = one(resources, "AWS::SNS::Topic", "MonitoringNotifications")
    assert approval["Properties"]["Environment"]["Variables"]["NOTIFICATION_TOPIC_ARN"] == {"Ref": topic}


# -- partitions, names, alarms ----------------------------------------------------------------------------------------


def test_the_console_url_output_uses_the_console_of_the_partition_it_is_deployed_in(template):
    from lambdas.core.console import CONSOLE_HOSTS
    from tests.template_values import resolve

    rendered = template.to_json()
    assert rendered["Mappings"]["ConsoleHosts"] == {p: {"Host": host} for p, host in CONSOLE_HOSTS.items()}
    machine = next(iter(of_type(rendered["Resources"], "AWS::StepFunctions::StateMachine")))
    for partition, region, host in (
        ("aws", "eu-west-1", "console.aws.amazon.com"),
        ("aws-cn", "cn-north-1", "console.amazonaws.cn"),
        ("aws-us-gov", "us-gov-west-1", "console.amazonaws-us-gov.com"),
    ):
        arn = f"arn:{partition}:states:{region}:123456789012:stateMachine:DrsOrchestrator-RecoveryPlan"
        names = {"AWS::Partition": partition, "AWS::Region": region, machine: arn}
        url = resolve(rendered["Outputs"]["StateMachineConsoleUrl"]["Value"], names, rendered["Mappings"])
        assert url == f"https://{host}/states/home?region={region}#/statemachines/view/{arn}"


def test_a_stack_name_that_would_make_the_state_machine_name_too_long_is_refused_at_synth(tmp_path):
    import pytest

    from stacks.workflow import STATE_MACHINE_NAME_MAX, STATE_MACHINE_SUFFIX
    from tests.infra.conftest import build_stack

    longest = STATE_MACHINE_NAME_MAX - len(STATE_MACHINE_SUFFIX)
    with pytest.raises(ValueError, match=rf"at most {longest} characters") as refused:
        build_stack(tmp_path / "long", stack_name="D" * (longest + 1))
    assert f"over Step Functions' {STATE_MACHINE_NAME_MAX}" in str(refused.value)
    fits = build_stack(tmp_path / "fits", stack_name="D" * longest)
    machine = next(iter(of_type(Template_of(fits), "AWS::StepFunctions::StateMachine").values()))
    assert len(machine["Properties"]["StateMachineName"]) == STATE_MACHINE_NAME_MAX


def Template_of(stack: Any) -> dict[str, Any]:  # noqa: N802 - reads as the assertion library's Template
    from aws_cdk.assertions import Template

    resources: dict[str, Any] = Template.from_stack(stack).to_json()["Resources"]
    return resources


def test_lambda_error_alarms_count_unexpected_errors_only(resources):
    from lambdas.core.observability import FUNCTION_NAME_KEY, REFUSAL_KEY
    from stacks.monitoring import METRIC_NAMESPACE, REFUSALS_METRIC, UNEXPECTED_ERRORS_EXPRESSION

    filters = of_type(resources, "AWS::Logs::MetricFilter")
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    for key in FUNCTIONS:
        function = function_logical_id(resources, key)
        properties = of_type(resources, "AWS::Lambda::Function")[function]["Properties"]
        log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
        counted = [f["Properties"] for f in filters.values() if f["Properties"]["LogGroupName"] == {"Ref": log_group}]
        assert counted == [
            {
                "FilterPattern": f'{{ $.{REFUSAL_KEY} = "*" }}',
                "LogGroupName": {"Ref": log_group},
                "MetricTransformations": [
                    {
                        "Dimensions": [{"Key": "FunctionName", "Value": f"$.{FUNCTION_NAME_KEY}"}],
                        "MetricName": REFUSALS_METRIC,
                        "MetricNamespace": METRIC_NAMESPACE,
                        "MetricValue": "1",
                    }
                ],
            }
        ]
        _, alarm = one(resources, "AWS::CloudWatch::Alarm", f"Monitoring{key.replace('_', '')}UnexpectedErrors")
        metrics = {metric["Id"]: metric for metric in alarm["Metrics"]}
        returned = [metric["Expression"] for metric in metrics.values() if metric.get("ReturnData", True)]
        assert returned == [UNEXPECTED_ERRORS_EXPRESSION]
        dimensions = [{"Name": "FunctionName", "Value": {"Ref": function}}]
        assert metrics["errors"]["MetricStat"]["Metric"] == {
            "Dimensions": dimensions,
            "MetricName": "Errors",
            "Namespace": "AWS/Lambda",
        }
        assert metrics["refusals"]["MetricStat"]["Metric"] == {
            "Dimensions": dimensions,
            "MetricName": REFUSALS_METRIC,
            "Namespace": METRIC_NAMESPACE,
        }
        assert {metrics[m]["MetricStat"]["Stat"] for m in ("errors", "refusals")} == {"Sum"}
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    # no alarm counts Lambda's Errors on their own any more
    for alarm in alarms.values():
        assert alarm["Properties"].get("MetricName") != "Errors"


def test_operator_and_approver_policies_are_managed_policies_in_the_outputs(template, resources):
    outputs = template.to_json()["Outputs"]
    managed = of_type(resources, "AWS::IAM::ManagedPolicy")
    for name in ("OperatorPolicyArn", "ApproverPolicyArn"):
        assert outputs[name]["Value"]["Ref"] in managed
        assert not managed[outputs[name]["Value"]["Ref"]]["Properties"].get("Roles")  # attached by whoever needs it
