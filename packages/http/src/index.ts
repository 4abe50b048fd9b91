export { problems, PROBLEM_STATUS, Problem, type ProblemsOptions } from './problems.js';
