export { RunMachine, type RunMachineOptions, type RunMachineStore } from './run-machine.js';
export { commitTask, derivePlan, loadTask, outputOf, startRefusal, watermarkStream, type PlanInputs } from './plan.js';
export { changeNeedsApproval, runNeedsApproval } from './approval-policy.js';
export { ModelTransformPlanner, type ModelTransformPlannerOptions, type TransformChoice, type TransformPlanner } from './transform-planner.js';
