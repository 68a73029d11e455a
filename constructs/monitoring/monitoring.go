// Package monitoring gives each environment an alarm topic, alarms on what needs a
// human (controller down, events it could not process, controller errors, a job
// past its max runtime) and a dashboard of the fleet.
package monitoring

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/Sage-Bionetworks/synapse-ops-runners/controller/settings"
)

// MetricNamespace is where the controller publishes its embedded metrics.
const MetricNamespace = settings.MetricsNamespaceDefault

// Controller metric names (CloudWatch embedded metric format, dimensions Environment and Pool).
const (
	MetricAssignedJobs    = settings.MetricAssignedJobs
	MetricBusyRunners     = settings.MetricBusyRunners
	MetricIdleRunners     = settings.MetricIdleRunners
	MetricErrors          = settings.MetricErrors
	MetricQueueToStart    = settings.MetricQueueToStartSeconds
	MetricRateLimit       = settings.MetricRateLimitRemaining
	MetricMaxRuntimeHits  = settings.MetricMaxRuntimeExceeded
	MetricAdmissionDenied = settings.MetricAdmissionDenied
)

// TopicProps configures the alarm topic.
type TopicProps struct {
	// EnvironmentName names the topic.
	EnvironmentName string
	// Key encrypts the topic.
	Key awskms.IKey
	// Email, when set, is subscribed to the topic.
	//
	// Default: no subscription
	Email string
}

// NewAlarmTopic creates the environment's alarm topic.
func NewAlarmTopic(scope constructs.Construct, id string, props TopicProps) awssns.Topic {
	topic := awssns.NewTopic(scope, jsii.String(id), &awssns.TopicProps{
		DisplayName: jsii.String("synapse-ops-runners " + props.EnvironmentName + " alarms"),
		MasterKey:   props.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	if props.Email != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(props.Email), nil))
	}
	return topic
}

// Props configures Monitoring.
type Props struct {
	// EnvironmentName is the metric dimension and the dashboard's name part.
	EnvironmentName string
	// Topic receives every alarm.
	Topic awssns.ITopic
	// ControllerGroupName is the controller's Auto Scaling group.
	ControllerGroupName string
	// PoolGroupNames are the pools' Auto Scaling groups, in config order.
	PoolGroupNames []string
	// DeadLetterQueue holds fleet events the controller could not process.
	DeadLetterQueue awssqs.IQueue
	// RunnerLogGroup receives the instances' boot logs, where a refused runner
	// download is logged.
	RunnerLogGroup awslogs.ILogGroup
}

// Monitoring holds the alarms and the dashboard.
type Monitoring struct {
	constructs.Construct
	Alarms    []awscloudwatch.Alarm
	Dashboard awscloudwatch.Dashboard
}

// New creates the alarms and the dashboard.
func New(scope constructs.Construct, id string, props Props) *Monitoring {
	this := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{Construct: this}
	action := awscloudwatchactions.NewSnsAction(props.Topic)
	five := awscdk.Duration_Minutes(jsii.Number(5))

	alarm := func(id, description string, metric awscloudwatch.IMetric, threshold float64, op awscloudwatch.ComparisonOperator, missing awscloudwatch.TreatMissingData) {
		a := awscloudwatch.NewAlarm(this, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(2),
			ComparisonOperator: op,
			TreatMissingData:   missing,
		})
		a.AddAlarmAction(action)
		m.Alarms = append(m.Alarms, a)
	}

	controllerUp := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String("AWS/AutoScaling"), MetricName: jsii.String("GroupInServiceInstances"),
		DimensionsMap: &map[string]*string{"AutoScalingGroupName": jsii.String(props.ControllerGroupName)},
		Statistic:     jsii.String("Minimum"), Period: five,
	})
	alarm("ControllerDown", "The fleet controller has no instance in service: queued jobs get no runner.",
		controllerUp, 1, awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD, awscloudwatch.TreatMissingData_BREACHING)

	alarm("UnprocessedEvents", "Fleet events reached the dead-letter queue: the controller failed on them five times.",
		props.DeadLetterQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}),
		1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING)

	envMetric := func(name, statistic string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(MetricNamespace), MetricName: jsii.String(name),
			DimensionsMap: &map[string]*string{"Environment": jsii.String(props.EnvironmentName)},
			Statistic:     jsii.String(statistic), Period: five,
		})
	}
	alarm("ControllerErrors", "The fleet controller keeps failing calls to GitHub or AWS (see its log group).",
		envMetric(MetricErrors, "Sum"), 10, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING)
	alarm("JobPastMaxRuntime", "A job ran past its pool's max runtime; the watchdog is about to remove its runner.",
		envMetric(MetricMaxRuntimeHits, "Sum"), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING)
	// Any refusal is worth a look: a job tried to run code that was never
	// admitted (or GitHub could not be asked in time). The controller logs the
	// run URL, workflow ref, event and branch.
	alarm("AdmissionDenied", "A job was refused by admission and its runner removed; see the controller log for the run URL, workflow ref, event, branch and rule.",
		envMetric(MetricAdmissionDenied, "Sum"), 1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING)

	// fetch-runner.sh logs one of these words when it refuses a runner.
	rejected := awslogs.NewMetricFilter(this, jsii.String("RunnerDownloadRejectedFilter"), &awslogs.MetricFilterProps{
		LogGroup:        props.RunnerLogGroup,
		FilterPattern:   awslogs.FilterPattern_AnyTerm(jsii.String("runner-checksum-mismatch"), jsii.String("runner-download-failed")),
		MetricNamespace: jsii.String(MetricNamespace),
		MetricName:      jsii.String(settings.MetricRunnerDownloadRejected),
		MetricValue:     jsii.String("1"),
		Dimensions:      &map[string]*string{},
	})
	alarm("RunnerDownloadRejected", "An instance refused its runner download (SHA-256 mismatch) or could not download it; see the runner log group's */boot streams.",
		rejected.Metric(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: five}),
		1, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, awscloudwatch.TreatMissingData_NOT_BREACHING)
	daysBehind := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(MetricNamespace), MetricName: jsii.String(settings.MetricRunnerDaysBehind),
		DimensionsMap: &map[string]*string{"Environment": jsii.String(props.EnvironmentName)},
		// The controller measures once a day.
		Statistic: jsii.String("Maximum"), Period: awscdk.Duration_Days(jsii.Number(1)),
	})
	behind := awscloudwatch.NewAlarm(this, jsii.String("RunnerVersionBehind"), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String(fmt.Sprintf("The runner version in use is more than %d days behind a newer release: GitHub stops giving jobs to it at 30. Check the controller's runner-release log lines, or remove runner.version (a pin).", settings.RunnerDaysBehindAlarm)),
		Metric:             daysBehind,
		Threshold:          jsii.Number(settings.RunnerDaysBehindAlarm),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	behind.AddAlarmAction(action)
	m.Alarms = append(m.Alarms, behind)

	m.Dashboard = awscloudwatch.NewDashboard(this, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String("synapse-ops-runners-" + props.EnvironmentName),
	})
	var poolInService []awscloudwatch.IMetric
	for _, g := range props.PoolGroupNames {
		poolInService = append(poolInService, awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/AutoScaling"), MetricName: jsii.String("GroupInServiceInstances"),
			DimensionsMap: &map[string]*string{"AutoScalingGroupName": jsii.String(g)},
			Statistic:     jsii.String("Maximum"), Period: awscdk.Duration_Minutes(jsii.Number(1)),
			Label: jsii.String(g),
		}))
	}
	graph := func(title string, metrics ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &metrics, Width: jsii.Number(12)})
	}
	m.Dashboard.AddWidgets(
		graph("Runner instances in service", poolInService...),
		graph("Jobs and runners", envMetric(MetricAssignedJobs, "Maximum"), envMetric(MetricBusyRunners, "Maximum"), envMetric(MetricIdleRunners, "Maximum")),
	)
	m.Dashboard.AddWidgets(
		graph("Queue to start (seconds, p99)", envMetric(MetricQueueToStart, "p99")),
		graph("Controller errors and GitHub rate limit", envMetric(MetricErrors, "Sum"), envMetric(MetricRateLimit, "Minimum")),
	)
	m.Dashboard.AddWidgets(
		graph("Runner days behind the latest release", daysBehind),
		graph("Suspended-process drift repaired", envMetric(settings.MetricSuspendedProcessDrift, "Sum")),
	)
	var alarms []awscloudwatch.IAlarm
	for _, a := range m.Alarms {
		alarms = append(alarms, a)
	}
	m.Dashboard.AddWidgets(awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title: jsii.String("Alarms"), Alarms: &alarms, Width: jsii.Number(24),
	}))
	return m
}
