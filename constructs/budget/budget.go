// Package budget creates an environment's monthly AWS Budget over the fleet's
// cost-allocation tag, notifying the alarm topic (and an email address) on
// actual and forecast spend, so a runaway fleet is seen within a day.
package budget

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsbudgets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configures Budget.
type Props struct {
	// BudgetName is the budget's name, unique in the account.
	BudgetName string
	// MonthlyUsd is the monthly limit in US dollars.
	MonthlyUsd int
	// TagKey and TagValue select the fleet's costs: every resource of the
	// stack carries the tag, which must be an active cost-allocation tag.
	TagKey, TagValue string
	// Topic receives the notifications; Budgets is allowed to publish to it.
	Topic awssns.Topic
	// TopicKey encrypts Topic; Budgets is allowed to use it.
	TopicKey awskms.IKey
	// Email, when set, is notified directly as well.
	//
	// Default: none
	Email string
}

// Budget is the monthly budget.
type Budget struct {
	constructs.Construct
	// Budget is the CloudFormation budget.
	Budget awsbudgets.CfnBudget
}

// Notification thresholds, in percent of the monthly limit. Actual spend at
// 80% leaves time to act before the limit; a forecast past 100% comes days
// earlier, from AWS's projection of the month.
var thresholds = []struct {
	kind    string
	percent float64
}{
	{"ACTUAL", 80},
	{"ACTUAL", 100},
	{"FORECASTED", 100},
}

// New creates the budget and lets AWS Budgets publish to the topic.
func New(scope constructs.Construct, id string, props Props) *Budget {
	this := constructs.NewConstruct(scope, jsii.String(id))
	account := awscdk.Stack_Of(this).Account()
	budgets := awsiam.NewServicePrincipal(jsii.String("budgets.amazonaws.com"), nil)
	props.Topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("BudgetsPublishesThisAccountsBudgets"),
		Actions:    jsii.Strings("sns:Publish"),
		Principals: &[]awsiam.IPrincipal{budgets},
		Resources:  &[]*string{props.Topic.TopicArn()},
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": account}},
	}))
	props.TopicKey.Grant(budgets, jsii.String("kms:GenerateDataKey*"), jsii.String("kms:Decrypt"))

	subscribers := []any{&awsbudgets.CfnBudget_SubscriberProperty{SubscriptionType: jsii.String("SNS"), Address: props.Topic.TopicArn()}}
	if props.Email != "" {
		subscribers = append(subscribers, &awsbudgets.CfnBudget_SubscriberProperty{SubscriptionType: jsii.String("EMAIL"), Address: jsii.String(props.Email)})
	}
	var notifications []any
	for _, t := range thresholds {
		notifications = append(notifications, &awsbudgets.CfnBudget_NotificationWithSubscribersProperty{
			Notification: &awsbudgets.CfnBudget_NotificationProperty{
				NotificationType:   jsii.String(t.kind),
				ComparisonOperator: jsii.String("GREATER_THAN"),
				Threshold:          jsii.Number(t.percent),
				ThresholdType:      jsii.String("PERCENTAGE"),
			},
			Subscribers: &subscribers,
		})
	}
	b := awsbudgets.NewCfnBudget(this, jsii.String("Budget"), &awsbudgets.CfnBudgetProps{
		Budget: &awsbudgets.CfnBudget_BudgetDataProperty{
			BudgetName:  jsii.String(props.BudgetName),
			BudgetType:  jsii.String("COST"),
			TimeUnit:    jsii.String("MONTHLY"),
			BudgetLimit: &awsbudgets.CfnBudget_SpendProperty{Amount: jsii.Number(float64(props.MonthlyUsd)), Unit: jsii.String("USD")},
			// The user: prefix is how Budgets names a user-defined cost-allocation tag.
			CostFilters: map[string]any{"TagKeyValue": []string{fmt.Sprintf("user:%s$%s", props.TagKey, props.TagValue)}},
		},
		NotificationsWithSubscribers: &notifications,
	})
	// The topic policy must exist before Budgets validates the subscriber.
	if policy := props.Topic.Node().TryFindChild(jsii.String("Policy")); policy != nil {
		b.Node().AddDependency(policy)
	}
	return &Budget{Construct: this, Budget: b}
}
