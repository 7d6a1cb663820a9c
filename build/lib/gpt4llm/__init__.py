"""What the recipes, data_gen and eval share: prompt templates, dataset schemas, models and publishing."""
